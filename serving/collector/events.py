"""KServe request-logger events turned into prediction records: pure functions and a pairing buffer.

KServe's logger posts two binary-mode CloudEvents per call, `...inference.request` and
`...inference.response`, with the same `ce-id`; the body is the V1 (`instances`/`predictions`) or
V2 (`inputs`/`outputs`) payload. Who logged (deployment, model, version, role) comes from the query
string of the logger URL the operator configured.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubeloop.predlog.schema import PredictionRecord

REQUEST_TYPE = "org.kubeflow.serving.inference.request"
RESPONSE_TYPE = "org.kubeflow.serving.inference.response"
SOURCE_KEYS = ("deployment", "model", "version", "role")


@dataclass(frozen=True, kw_only=True)
class Source:
    """Who logged an event, from the logger URL's query string."""

    deployment: str
    model: str
    version: str
    role: str

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Source:
        """Read the four keys; ValueError names the missing ones."""
        missing = [key for key in SOURCE_KEYS if not query.get(key)]
        if missing:
            raise ValueError(f"the logger URL lacks query parameters: {', '.join(missing)}")
        return cls(**{key: query[key] for key in SOURCE_KEYS})


def input_rows(payload: Any) -> list[dict[str, Any]]:
    """Rows of a V1 (`instances`) or V2 (`inputs`, one tensor per feature or one 2-D tensor) request."""
    if isinstance(payload, Mapping) and isinstance(payload.get("instances"), list):
        return [_row(instance) for instance in payload["instances"]]
    if isinstance(payload, Mapping) and isinstance(payload.get("inputs"), list):
        tensors = payload["inputs"]
        if len(tensors) == 1 and len(tensors[0].get("shape", [])) == 2:
            rows, width = tensors[0]["shape"]
            data = tensors[0]["data"]
            flat = [v for row in data for v in row] if data and isinstance(data[0], list) else data
            return [{str(j): flat[i * width + j] for j in range(width)} for i in range(rows)]
        columns = {t["name"]: t["data"] for t in tensors}
        count = min((len(v) for v in columns.values()), default=0)
        return [{name: values[i] for name, values in columns.items()} for i in range(count)]
    raise ValueError("the request has neither `instances` (V1) nor `inputs` (V2)")


def _row(instance: Any) -> dict[str, Any]:
    if isinstance(instance, Mapping):
        return dict(instance)
    if isinstance(instance, list):
        return {str(i): value for i, value in enumerate(instance)}
    return {"0": instance}


def outputs(payload: Any) -> list[Any]:
    """Predictions of a V1 (`predictions`) or V2 (first tensor of `outputs`) response."""
    if isinstance(payload, Mapping) and isinstance(payload.get("predictions"), list):
        return list(payload["predictions"])
    if isinstance(payload, Mapping) and isinstance(payload.get("outputs"), list) and payload["outputs"]:
        return list(payload["outputs"][0].get("data", []))
    raise ValueError("the response has neither `predictions` (V1) nor `outputs` (V2)")


def mirrored(request_id: str, percent: int) -> bool:
    """Whether a request is in the mirrored share; a hash of its id, so both sides of a retry agree."""
    digest = hashlib.sha256(request_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < percent


class Pairs:
    """Requests waiting for their responses, bounded in number and age (oldest dropped first)."""

    def __init__(self, *, capacity: int = 10_000, ttl: float = 60.0) -> None:
        self.capacity, self.ttl = capacity, ttl
        self._waiting: OrderedDict[str, tuple[float, list[dict[str, Any]]]] = OrderedDict()
        self.dropped = 0

    def request(self, request_id: str, rows: list[dict[str, Any]], *, now: float) -> None:
        """Remember a request's rows until its response arrives."""
        self._expire(now)
        self._waiting[request_id] = (now, rows)
        while len(self._waiting) > self.capacity:
            self._waiting.popitem(last=False)
            self.dropped += 1

    def response(
        self, request_id: str, predictions: list[Any], *, source: Source, now: float, latency: bool = True
    ) -> PredictionRecord | None:
        """The record of a request/response pair, or None when the request is unknown (expired or unseen)."""
        found = self._waiting.pop(request_id, None)
        if found is None:
            return None
        started, rows = found
        return PredictionRecord(
            request_id=request_id,
            timestamp=started,
            deployment=source.deployment,
            model=source.model,
            version=source.version,
            role=source.role,
            inputs=rows,
            outputs=predictions,
            latency_ms=(now - started) * 1000 if latency else 0.0,
        )

    def _expire(self, now: float) -> None:
        while self._waiting:
            oldest = next(iter(self._waiting))
            if now - self._waiting[oldest][0] <= self.ttl:
                return
            del self._waiting[oldest]
            self.dropped += 1

    def __len__(self) -> int:
        return len(self._waiting)
