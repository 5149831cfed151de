"""A MetricSource over the Prometheus HTTP API (`/api/v1/query`), used when a Prometheus URL is set."""

from __future__ import annotations

import math
import time
from typing import Any

import httpx

from kubeloop.errors import BackendUnavailable, SpecError
from kubeloop.telemetry.queries import Query


class PrometheusSource:
    """Instant queries: each typed query is sent as its PromQL, which carries its own range."""

    def __init__(self, url: str, *, timeout: float = 5.0, client: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        self._client = client or httpx.Client(timeout=timeout)

    def query(self, query: Query) -> float | None:
        """The first sample of the query's result now; None when the result is empty or NaN."""
        text = query.to_promql()
        try:
            response = self._client.get(
                f"{self.url}/api/v1/query", params={"query": text, "time": f"{time.time():.3f}"}
            )
        except httpx.HTTPError as error:
            raise BackendUnavailable(f"Prometheus at {self.url} is unreachable: {error}") from None
        body = _json(response)
        if response.status_code == 400:
            raise SpecError(f"Prometheus refused the query {text!r}: {body.get('error', response.text)}")
        if response.status_code >= 300 or body.get("status") != "success":
            raise BackendUnavailable(f"Prometheus at {self.url} answered {response.status_code}: {body}")
        return _first_value(body.get("data", {}))

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _first_value(data: dict[str, Any]) -> float | None:
    kind, result = data.get("resultType"), data.get("result")
    if not result:
        return None
    if kind == "scalar":
        value = float(result[1])
    elif kind == "vector":
        value = float(result[0]["value"][1])
    else:
        return None
    return None if math.isnan(value) or math.isinf(value) else value
