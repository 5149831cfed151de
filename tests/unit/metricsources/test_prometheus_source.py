"""The Prometheus HTTP API source: values, empty results, refusals and outages."""

from __future__ import annotations

import httpx
import pytest

from kubeloop.errors import BackendUnavailable, SpecError
from kubeloop.metricsources.prometheus import PrometheusSource
from kubeloop.telemetry.queries import PromQL


def source(handler) -> PrometheusSource:  # type: ignore[no-untyped-def]
    return PrometheusSource("http://prom:9090/", client=httpx.Client(transport=httpx.MockTransport(handler)))


def test_first_sample_of_a_vector_is_the_value() -> None:
    seen = {}

    def handle(request: httpx.Request) -> httpx.Response:
        seen["query"] = request.url.params["query"]
        seen["path"] = request.url.path
        body = {
            "status": "success",
            "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "0.25"]}]},
        }
        return httpx.Response(200, json=body)

    assert source(handle).query(PromQL("sum(up)")) == 0.25
    assert seen == {"query": "sum(up)", "path": "/api/v1/query"}


@pytest.mark.parametrize(
    "data",
    [
        {"resultType": "vector", "result": []},
        {"resultType": "vector", "result": [{"metric": {}, "value": [1, "NaN"]}]},
        {"resultType": "scalar", "result": [1, "+Inf"]},
    ],
)
def test_empty_or_nan_is_no_data(data: dict) -> None:
    handler = lambda request: httpx.Response(200, json={"status": "success", "data": data})  # noqa: E731
    assert source(handler).query(PromQL("x")) is None


def test_a_bad_query_is_a_spec_error_naming_it() -> None:
    handler = lambda request: httpx.Response(400, json={"status": "error", "error": "parse error"})  # noqa: E731
    with pytest.raises(SpecError, match="parse error"):
        source(handler).query(PromQL("sum("))


def test_unreachable_prometheus_is_backend_unavailable() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(BackendUnavailable, match="unreachable"):
        source(handle).query(PromQL("up"))
