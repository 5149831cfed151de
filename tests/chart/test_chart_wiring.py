"""The chart hands each program the settings and flags that program actually reads."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from kubeloop.k8s.config import ENV_PREFIX, ClusterConfig, config_from_env
from kubeloop.settings import PROMETHEUS_ENV, TRACKING_ENV, load_settings

pytestmark = pytest.mark.k8s

Objects = dict[str, list[dict[str, Any]]]


def _operator_env(objects: list[dict[str, Any]]) -> dict[str, str]:
    (cm,) = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-operator")]
    return cm["data"]


@pytest.mark.parametrize("scenario", ["default", "production", "gateway-api"])
def test_operator_environment_is_what_the_operator_reads(rendered: Objects, scenario: str) -> None:
    env = _operator_env(rendered[scenario])
    known = {ENV_PREFIX + f.name.upper() for f in fields(ClusterConfig)}
    ours = {key for key in env if key.startswith(ENV_PREFIX)}
    assert ours <= known, f"the operator does not read {ours - known}"
    config = config_from_env(env)
    assert config.platform_image.startswith("ghcr.io/kubeloop/kubeloop:")
    assert config.model_server_image("kserve").startswith("ghcr.io/kubeloop/kubeloop-serving:")
    assert config.model_server_image("bentoml").startswith("ghcr.io/kubeloop/kubeloop-bento:")
    (claim,) = [o for o in rendered[scenario] if o["kind"] == "PersistentVolumeClaim"
                and o["metadata"]["name"].endswith("-collector")]
    assert config.prediction_log_claim == claim["metadata"]["name"]
    assert config.collector_url.endswith("/events")
    settings = load_settings(env)
    assert settings.prometheus_url and env[TRACKING_ENV].startswith("http://")
    assert PROMETHEUS_ENV in env


def test_drift_jobs_account_exists_where_jobs_run(rendered: Objects) -> None:
    accounts = [o for o in rendered["production"] if o["kind"] == "ServiceAccount"
                and o["metadata"]["name"] == "kubeloop-drift"]
    assert sorted(a["metadata"]["namespace"] for a in accounts) == ["kubeloop", "ml-prod"]
    assert all(a["automountServiceAccountToken"] is False for a in accounts)


@pytest.mark.parametrize("component", ["gateway", "collector"])
def test_flags_are_accepted_by_the_program(rendered: Objects, component: str) -> None:
    (deployment,) = [o for o in rendered["default"] if o["kind"] == "Deployment"
                     and o["metadata"]["name"].endswith(f"-{component}")]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    module = f"kubeloop.serving.{component}"
    assert container["command"] == ["python", "-m", module]
    usage = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True,
                           text=True, timeout=60, check=True).stdout
    for arg in container["args"]:
        assert arg.split("=")[0] in usage, f"{module} has no flag {arg}"


def _named(objects: list[dict[str, Any]], kind: str, suffix: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind and o["metadata"]["name"].endswith(suffix)]


@pytest.mark.parametrize("scenario", ["default", "production", "gateway-api"])
def test_operator_metrics_are_served_scraped_and_tested_on_one_port(rendered: Objects, scenario: str) -> None:
    objects = rendered[scenario]
    config = config_from_env(_operator_env(objects))
    (deployment,) = _named(objects, "Deployment", "-operator")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": config.operator_metrics_port, "health": config.operator_health_port}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    (service,) = _named(objects, "Service", "-operator")
    (metrics,) = [p for p in service["spec"]["ports"] if p["name"] == "metrics"]
    assert metrics["targetPort"] == "metrics"
    for monitor in _named(objects, "ServiceMonitor", "-operator"):
        (endpoint,) = monitor["spec"]["endpoints"]
        assert (endpoint["port"], endpoint["path"]) == ("metrics", "/metrics")
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    if "prometheus.io/port" in annotations:
        assert annotations["prometheus.io/port"] == str(config.operator_metrics_port)
    (test_pod,) = _named(objects, "Pod", "-test-operator")
    url, needle = test_pod["spec"]["containers"][0]["args"]
    service_host = f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc"
    assert url == f"http://{service_host}:{metrics['port']}/metrics"
    assert needle.startswith("kubeloop_operator_")


def test_helm_test_check_fails_on_a_missing_series(rendered: Objects, tmp_path: Path) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    class Metrics(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # http.server's naming
            body = b"kubeloop_operator_last_reconcile_timestamp_seconds 0.0\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            """Quiet."""

    (test_pod,) = _named(rendered["default"], "Pod", "-test-operator")
    command = test_pod["spec"]["containers"][0]["command"]
    _url, needle = test_pod["spec"]["containers"][0]["args"]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Metrics)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
        codes = [subprocess.run([sys.executable, *command[1:], url, text], timeout=60, cwd=tmp_path,
                                check=False).returncode for text in (needle, "kubeloop_missing_series")]
    finally:
        server.shutdown()
        server.server_close()
    assert codes == [0, 1]
