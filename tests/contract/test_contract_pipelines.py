"""Pipeline runners against recording API servers: what `kfp.Client` and the Argo client really send."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kfpserver import FakeKfp

from kubeloop.pipelines.kfp_api import KfpPipelineRunner, compile_ir


@pytest.fixture(scope="module")
def compiled_ir(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return yaml.safe_load(compile_ir("training", tmp_path_factory.mktemp("ir")).read_text())


def test_kfp_client_submits_the_compiled_ir_then_polls_to_success(compiled_ir: dict, tmp_path: Path) -> None:
    import kfp

    reported = []
    with FakeKfp() as server:
        runner = KfpPipelineRunner(
            client=kfp.Client(host=server.url),
            tracking_uri="http://mlflow:5000",
            poll=0.01,
            report=lambda pipeline, label: reported.append(label) or {"version": "5", "passed": True},
        )
        run = runner.submit("training", {"estimator": "random_forest"})
        status = runner.wait(run, timeout=10)
    posts = [(path, body) for method, path, body in server.state.requests if method == "POST"]
    assert [path for path, _ in posts] == ["/apis/v2beta1/experiments", "/apis/v2beta1/runs"]
    assert posts[0][1]["display_name"] == "kubeloop"
    created = posts[1][1]
    assert created["experiment_id"] == "exp-1" and created["display_name"].startswith("training-")
    # Every task gets the tracking server and the run's name in its environment; the rest is the IR.
    env = {
        "KUBELOOP_TRACKING_URI": "http://mlflow:5000",
        "MLFLOW_TRACKING_URI": "http://mlflow:5000",
        "KUBELOOP_PIPELINE_RUN": created["display_name"],
    }
    executors = created["pipeline_spec"]["deploymentSpec"]["executors"]
    for executor in executors.values():
        assert {e["name"]: e["value"] for e in executor["container"].pop("env")} == env
    assert created["pipeline_spec"] == compiled_ir
    parameters = created["runtime_config"]["parameters"]
    assert parameters["estimator"] == "random_forest" and "tracking_uri" not in parameters
    assert run.run_id == "run-1" and run.label == created["display_name"]
    assert status.state == "succeeded" and status.outputs == {"version": "5", "passed": True}
    assert reported == [created["display_name"]]


def test_a_user_pipeline_file_goes_to_kfp_with_typed_parameters_and_to_argo_inside_the_workflow(
    tmp_path: Path,
) -> None:
    import kfp
    from argoserver import FakeArgo

    from kubeloop.errors import KubeloopError
    from kubeloop.pipelines.argo import ArgoPipelineRunner

    flow = tmp_path / "flow.py"
    flow.write_text(USER_FLOW)
    with FakeKfp() as server:
        runner = KfpPipelineRunner(client=kfp.Client(host=server.url), tracking_uri="http://mlflow:5000")
        with pytest.raises(KubeloopError, match="parameter rows: expected an integer, got 'lots'"):
            runner.submit(f"{flow}:flow", {"rows": "lots"})
        runner.submit(f"{flow}:flow", {"rows": "7"})
    created = [body for method, _, body in server.state.requests if method == "POST"][-1]
    assert created["runtime_config"]["parameters"] == {"rows": 7}
    assert created["display_name"].startswith("flow-")
    with FakeArgo() as argo:
        runner = ArgoPipelineRunner.connect(
            host=argo.url, namespace="ml", image="kubeloop:test", tracking_uri="http://mlflow:5000"
        )
        run = runner.submit(f"{flow}:flow", {"rows": "7"})
    workflow = argo.requests[0][2]["workflow"]
    (template,) = workflow["spec"]["templates"]
    (artifact,) = template["inputs"]["artifacts"]
    assert artifact["path"] == "/tmp/kubeloop-pipeline/flow.py" and artifact["raw"]["data"] == USER_FLOW
    assert (
        "kubeloop pipeline run /tmp/kubeloop-pipeline/flow.py:flow --json --param rows=7"
        in (template["container"]["command"][2])
    )
    assert workflow["metadata"]["generateName"] == "flow-" and run.pipeline == f"{flow}:flow"


USER_FLOW = """
from kfp import dsl


@dsl.component(base_image="registry.example/acme/job:1", install_kfp_package=False)
def count(rows: int) -> int:
    return rows


@dsl.pipeline
def flow(rows: int = 10) -> None:
    count(rows=rows)
"""


def test_kfp_failed_and_unknown_runs(tmp_path: Path) -> None:
    import kfp

    from kubeloop.errors import NotFoundError
    from kubeloop.pipelines.base import PipelineRun

    with FakeKfp() as server:
        server.state.states = ["FAILED"]
        runner = KfpPipelineRunner(
            client=kfp.Client(host=server.url),
            tracking_uri="http://mlflow:5000",
            report=lambda *_: pytest.fail("no report for a failed run"),
        )
        run = runner.submit("training", {})
        assert runner.status(run).state == "failed"
        with pytest.raises(NotFoundError, match="no run"):
            runner.status(PipelineRun(run_id="missing", pipeline="training"))


def test_argo_client_submits_the_pipeline_workflow_and_reads_the_outcome(tmp_path: Path) -> None:
    import hashlib

    from argoserver import FakeArgo

    from kubeloop.pipelines.argo import IR_ANNOTATION, ArgoPipelineRunner, ir_digest, pipeline_workflow

    digest = ir_digest("training")
    assert digest == hashlib.sha256(compile_ir("training", tmp_path).read_bytes()).hexdigest()
    with FakeArgo() as server:
        runner = ArgoPipelineRunner.connect(
            host=server.url,
            namespace="ml",
            image="kubeloop:test",
            tracking_uri="http://mlflow:5000",
            poll=0.01,
        )
        run = runner.submit("training", {"estimator": "random_forest", "test_size": 0.3})
        status = runner.wait(run, timeout=10)
    (method, path, body), *_ = server.requests
    assert (method, path) == ("POST", "/api/v1/workflows/ml")
    expected = pipeline_workflow(
        "training",
        {"estimator": "random_forest", "test_size": 0.3},
        namespace="ml",
        image="kubeloop:test",
        tracking_uri="http://mlflow:5000",
        service_account="kubeloop-pipeline",
        digest=digest,
    )
    assert body["workflow"] == expected
    assert body["workflow"]["metadata"]["annotations"][IR_ANNOTATION] == digest
    script = body["workflow"]["spec"]["templates"][0]["container"]["command"][2]
    assert (
        "kubeloop pipeline run training --json --param estimator=random_forest --param test_size=0.3"
        in script
    )
    assert (
        run.run_id == "training-00001" and status.state == "succeeded" and status.outputs == {"version": "7"}
    )
