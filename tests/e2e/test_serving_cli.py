"""`kubeloop deploy`, `predict` and `serve status|stop` as a user runs them, with a real registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kubeloop.local import processes
from kubeloop.predlog import read_predictions
from kubeloop.serving.testing import register_iris
from kubeloop.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DEPLOYMENT = """\
apiVersion: kubeloop.io/v1alpha1
kind: ModelDeployment
metadata: {name: iris-cli}
spec:
  model: {name: iris-cli-model, alias: champion}
  serving: {runtime: kserve, port: %d}
"""


def kubeloop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubeloop", *args], capture_output=True, text=True,
                          timeout=240, env=os.environ.copy())


def test_deploy_predict_status_stop(settings: Settings, tmp_path: Path) -> None:
    register_iris(settings, name="iris-cli-model")
    spec = tmp_path / "iris.yaml"
    spec.write_text(DEPLOYMENT % processes.free_port())
    try:
        deployed = kubeloop("deploy", str(spec), "--json")
        assert deployed.returncode == 0, deployed.stderr
        result = json.loads(deployed.stdout)
        assert (result["deployment"], result["version"], result["runtime"]) == ("iris-cli", "1", "kserve")

        answer = kubeloop("predict", "iris-cli", "--json", '{"instances": [[5.1, 3.5, 1.4, 0.2]]}')
        assert answer.returncode == 0, answer.stderr
        assert json.loads(answer.stdout)["predictions"] == ["setosa"]
        body = tmp_path / "v2.json"
        body.write_text(json.dumps({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64",
                                                "data": [6.7, 3.0, 5.2, 2.3]}]}))
        v2 = kubeloop("predict", "iris-cli", "--file", str(body), "--v2")
        assert json.loads(v2.stdout)["outputs"][0]["data"] == ["virginica"]

        refused = kubeloop("predict", "iris-cli", "--json", '{"instances": [[5.1, 3.5]]}')
        assert refused.returncode == 1
        assert "400 instance 0: expected 4 values" in refused.stderr
        assert "not valid JSON" in kubeloop("predict", "iris-cli", "--json", "{oops").stderr

        status = kubeloop("serve", "status", "--json")
        servers = json.loads(status.stdout)["servers"]
        assert [(s["deployment"], s["version"], s["state"], s["traffic"]) for s in servers] == [
            ("iris-cli", "1", "running", "stable 100%")]
        again = kubeloop("deploy", str(spec), "--json")
        assert json.loads(again.stdout)["server"] == result["server"]  # idempotent: same server kept
    finally:
        stopped = kubeloop("serve", "stop", "--all")
    assert stopped.returncode == 0, stopped.stderr
    assert processes.gateway_record(settings) is None
    assert not any(r.alive() for r in processes.server_records(settings))
    logged = read_predictions(settings, "iris-cli")
    assert set(logged["prediction"]) == {"setosa", "virginica"}  # flushed on shutdown


def test_deploy_refuses_an_invalid_file_and_an_unknown_model(settings: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: kubeloop.io/v1alpha1\nkind: ModelDeployment\nmetadata: {name: x}\nspec: {}\n")
    invalid = kubeloop("deploy", str(bad))
    assert invalid.returncode == 1 and "spec.model" in invalid.stderr
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(DEPLOYMENT.replace("iris-cli-model", "no-such-model") % processes.free_port())
    missing = kubeloop("deploy", str(unknown))
    assert missing.returncode == 1 and "no-such-model" in missing.stderr
    assert kubeloop("predict", "iris-cli", "--json", "{}").returncode == 1
