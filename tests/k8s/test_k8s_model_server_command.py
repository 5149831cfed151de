"""The model-server command the InferenceService builder emits starts our runtimes on a registered model."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubeloop.k8s.config import ClusterConfig
from kubeloop.k8s.kserve.resources import version_isvc
from kubeloop.local.processes import free_port, wait_ready
from kubeloop.serving.testing import register_iris
from kubeloop.settings import Settings
from kubeloop.spec import parse_deployment

pytestmark = [pytest.mark.e2e, pytest.mark.k8s]
ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def _container(runtime: str, version: str) -> dict[str, Any]:
    deployment = parse_deployment({
        "metadata": {"name": "iris", "namespace": "models"},
        "spec": {"model": {"name": "iris-classifier"}, "router": "kserve",
                 "serving": {"runtime": runtime, "workers": 1}},
    })
    isvc = version_isvc(deployment, config=ClusterConfig(), name="iris", version=version,
                             role="champion")
    (container,) = isvc["spec"]["predictor"]["containers"]
    return container



def _on_loopback(command: list[str], env: dict[str, str], port: int) -> tuple[list[str], dict[str, str]]:
    """The pod's command line with only the listen address and port changed, run from this Python."""
    swap = {"0.0.0.0": "127.0.0.1", "8080": str(port)}
    local = [swap.get(part, part) for part in command]
    program = {"python": sys.executable, "bentoml": shutil.which("bentoml") or "bentoml"}
    local[0] = program[local[0]]
    return local, {key: swap.get(value, value) for key, value in env.items()}




@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("model-server-home")
    settings = Settings(home=home, tracking_uri=f"sqlite:///{home / 'mlflow.db'}").ensure_dirs()
    assert register_iris(settings, name="iris-classifier") == "1"
    return settings


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ["kserve", "bentoml"])
def test_the_emitted_command_serves_the_registered_version(
    registered: Settings, runtime: str, tmp_path: Path
) -> None:
    container = _container(runtime, "1")
    assert container["image"] == ClusterConfig().model_server_image(runtime)
    pod_env = {e["name"]: e["value"] for e in container["env"]}
    assert pod_env["KUBELOOP_TRACKING_URI"] == ClusterConfig().tracking_uri
    port = free_port()
    command, env = _on_loopback(container["command"], pod_env, port)
    # Only the registry moves: the pod's tracking server is this test's SQLite store.
    env |= {"KUBELOOP_TRACKING_URI": registered.tracking_uri, "KUBELOOP_HOME": str(tmp_path),
            "BENTOML_HOME": str(tmp_path / "bentoml"), "HOME": str(tmp_path)}
    log = tmp_path / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(command, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}/v2/health/ready", process, timeout=120.0, log_file=log)
        answer = httpx.post(f"http://127.0.0.1:{port}/v1/models/iris-classifier:predict",
                            content=json.dumps({"instances": [ROW]}), timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == ["setosa"]
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        assert 'version="1"' in metrics and "kubeloop_requests_total" in metrics
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    # In a pod KServe's request logger sends predictions to the collector: the server writes none itself.
    assert not list((tmp_path / "predictions").rglob("*.jsonl")), "the pod wrote prediction logs locally"
