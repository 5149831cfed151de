"""The operator serves its metrics and liveness on the ports ClusterConfig reads (the ones the chart sets)."""

from __future__ import annotations

import functools
from typing import Any

import httpx
import pytest

from kubeloop.k8s import operator
from kubeloop.k8s.config import ENV_PREFIX
from kubeloop.local.processes import free_port


def test_run_serves_operator_metrics_on_the_configured_port(monkeypatch: pytest.MonkeyPatch) -> None:
    metrics_port, health_port = free_port(), free_port()
    monkeypatch.setenv(ENV_PREFIX + "OPERATOR_METRICS_PORT", str(metrics_port))
    monkeypatch.setenv(ENV_PREFIX + "OPERATOR_HEALTH_PORT", str(health_port))
    seen: dict[str, Any] = {}

    def kopf_run(**kwargs: Any) -> None:
        # Stands in for kopf's event loop (which needs a cluster): look at the endpoints while it "runs".
        seen.update(kwargs)
        seen["metrics"] = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text

    monkeypatch.setattr(operator.kopf, "run", kopf_run)
    # The pod listens on every address; here only loopback.
    loopback = functools.partial(operator.serve_metrics, host="127.0.0.1")
    monkeypatch.setattr(operator, "serve_metrics", loopback)
    operator.run(namespace="models", priority=7)
    assert "kubeloop_operator_reconcile_total" in seen["metrics"]
    assert "kubeloop_operator_last_reconcile_timestamp_seconds" in seen["metrics"]
    assert seen["liveness_endpoint"] == f"http://0.0.0.0:{health_port}/healthz"
    assert seen["namespaces"] == ["models"] and seen["priority"] == 7
    with pytest.raises(httpx.TransportError):  # the metrics server stops with the operator
        httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2)


def test_a_port_that_is_not_a_number_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from kubeloop.errors import KubeloopError
    from kubeloop.k8s.config import config_from_env

    with pytest.raises(KubeloopError, match="KUBELOOP_K8S_OPERATOR_METRICS_PORT must be an integer"):
        config_from_env({ENV_PREFIX + "OPERATOR_METRICS_PORT": "metrics"})
