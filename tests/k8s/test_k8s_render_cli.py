"""`kubeloop k8s render` and `kubeloop k8s crd` as users run them: YAML valid against real schemas."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import openapi_schemas as openapi
import pytest
import yaml
from typer.testing import CliRunner

from kubeloop.cli import app
from kubeloop.k8s.crd import build_crd

pytestmark = pytest.mark.k8s
EXAMPLES = Path(__file__).parents[2] / "examples"
runner = CliRunner()


def render(*args: str) -> list[dict]:
    result = runner.invoke(app, ["k8s", "render", *args])
    assert result.exit_code == 0, result.output
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.mark.parametrize("router", ["kserve", "istio", "gateway-api"])
@pytest.mark.parametrize("phase", ["stable", "canary:25", "promoted"])
def test_render_examples_validate(router: str, phase: str, upstream_crds) -> None:
    objects = render(
        str(EXAMPLES / f"iris-{router}.yaml"), "--phase", phase, "--champion", "3", "--challenger", "4"
    )
    for obj in objects:
        if obj["apiVersion"] == "batch/v1":
            kubernetes_validate.validate(obj, kubernetes_validate.latest_version(), strict=True)
        else:
            assert upstream_crds.problems(obj) == [], obj["kind"]
    assert objects[-1]["kind"] == "CronJob" and objects[-1]["spec"]["schedule"] == "0 * * * *"


def test_examples_validate_against_the_generated_crd() -> None:
    validator = openapi.SchemaValidator(openapi.served_schema(build_crd()))
    for path in sorted(EXAMPLES.glob("iris*.yaml")):
        assert validator.problems(yaml.safe_load(path.read_text())) == [], path


def test_router_override_and_argo_drift_engine(upstream_crds) -> None:
    objects = render(
        str(EXAMPLES / "iris.yaml"), "--router", "istio", "--phase", "shadow", "--drift-engine", "argo"
    )
    kinds = [obj["kind"] for obj in objects]
    assert kinds == [
        "InferenceService",
        "DestinationRule",
        "InferenceService",
        "DestinationRule",
        "VirtualService",
        "CronWorkflow",
    ]
    vs = objects[4]["spec"]["http"][0]
    assert vs["mirrorPercentage"] == {"value": 100.0} and vs["mirror"]["host"].startswith(
        "iris-v2-predictor."
    )
    assert all(upstream_crds.problems(obj) == [] for obj in objects)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--phase", "canary:150"], "canary weight must be a whole percent"),
        (["--phase", "sideways"], "expected stable, shadow, canary:N or promoted"),
        (["--router", "nginx"], "--router: expected one of"),
    ],
)
def test_render_refuses_bad_options_in_one_line(args: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kubeloop", "k8s", "render", str(EXAMPLES / "iris-kserve.yaml"), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (
        result.returncode == 1 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    )


def test_local_gateway_spec_is_refused_for_the_cluster() -> None:
    result = runner.invoke(app, ["k8s", "render", str(EXAMPLES / "iris.yaml")])
    assert result.exit_code != 0 and "spec.router" in str(result.exception)


def test_crd_command_prints_the_crd_and_peering(upstream_crds) -> None:
    result = runner.invoke(app, ["k8s", "crd", "--peering"])
    assert result.exit_code == 0, result.output
    docs = list(yaml.safe_load_all(result.stdout))
    assert docs[0] == build_crd() and docs[2] == {
        "apiVersion": "kopf.dev/v1",
        "kind": "ClusterKopfPeering",
        "metadata": {"name": "kubeloop"},
    }
    for doc in docs[:2]:
        kubernetes_validate.validate(doc, "1.29", strict=True)


def test_without_the_crds_folder_the_schema_tests_fail_saying_how_to_fix_it(tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k != "KUBELOOP_CRDS_DIR"}
    test = f"{__file__}::test_crd_command_prints_the_crd_and_peering"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stdout[-2000:]
    assert "KUBELOOP_CRDS_DIR is not set" in result.stdout and "export KUBELOOP_CRDS_DIR=" in result.stdout


@pytest.mark.e2e
def test_the_drift_cronjob_command_runs_the_drift_check_on_its_spec(tmp_path: Path) -> None:
    import os

    (job,) = [obj for obj in render(str(EXAMPLES / "iris-kserve.yaml")) if obj["kind"] == "CronJob"]
    container = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    env = {**os.environ, **{e["name"]: e["value"] for e in container["env"]}, "KUBELOOP_HOME": str(tmp_path)}
    env["KUBELOOP_TRACKING_URI"] = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = subprocess.run(container["command"], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    outcome = json.loads(result.stdout)
    assert outcome["deployment"] == "iris" and outcome["window"] == 6 * 3600  # the example's drift window
    assert "has no champion version" in outcome["result"]["reason"]  # an empty registry, said plainly
