"""A user's own pipeline end to end: a file this project never saw, run with `kubeloop pipeline run
file.py:fn`, registers a version the gateway serves; its second run starts a rollout from inside the
pipeline (kubeloop's start_rollout component) and the rollout promotes it. Real kfp.local, MLflow,
model servers, gateway and controller.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from rollout_harness import kubeloop, rollout_state, wait_for

from kubeloop.demo.traffic import Traffic
from kubeloop.local import processes
from kubeloop.registry.mlflow_registry import MlflowRegistry
from kubeloop.registry.names import TAG_ARTIFACT_SHA256, TAG_PIPELINE_RUN, TAG_REFERENCE_SOURCE
from kubeloop.serving.testing import iris_rows
from kubeloop.settings import HOME_ENV, TRACKING_ENV, Settings, load_settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MODEL = "user-iris"
USER_PIPELINE = '''
"""My own pipeline: a random forest on iris, kubeloop's components for the rest."""
from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from kubeloop.components import evaluate_model, quality_gate, register_model, start_rollout, validate_table

IMAGE = "registry.example/acme/iris-trainer:1"


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def iris_table(table: Output[Dataset]) -> None:
    from sklearn.datasets import load_iris

    data = load_iris(as_frame=True)
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    frame = data.frame.rename(columns=dict(zip(data.feature_names, names)))
    frame["species"] = [str(data.target_names[i]) for i in frame.pop("target")]
    frame.to_parquet(table.path, index=False)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def train_forest(train: Input[Dataset], trees: int) -> str:
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.ensemble import RandomForestClassifier

    from kubeloop.components.task import use_experiment

    frame = pd.read_parquet(train.path)
    features, labels = frame.drop(columns=["species"]), frame["species"]
    model = RandomForestClassifier(n_estimators=trees, max_depth=3, random_state=0).fit(features, labels)
    use_experiment("my-iris")
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model, name="model", signature=infer_signature(features, model.predict(features)),
            input_example=features.head(3), serialization_format="cloudpickle",
            pip_requirements=["scikit-learn"],
        )
    return info.model_uri


@dsl.pipeline(name="my-iris")
def my_iris(model_name: str, trees: int = 10, deployment: str = "", strategy: str = "") -> None:
    checked = validate_table(table=iris_table().outputs["table"], target="species")
    model_uri = train_forest(train=checked.outputs["train"], trees=trees).output
    scored = evaluate_model(model_uri=model_uri, holdout=checked.outputs["holdout"], target="species",
                            model_name=model_name)
    gate = quality_gate(evaluation=scored.output, metric="accuracy", threshold=0.8, min_improvement=-1.0)
    with dsl.If(gate.output == True, name="passed"):
        registered = register_model(
            model_uri=model_uri, model_name=model_name, reference=checked.outputs["train"],
            holdout=checked.outputs["holdout"],
        )
        with dsl.If(deployment != "", name="roll-out"):
            start_rollout(deployment=deployment, version=registered.output, strategy=strategy)
'''
STRATEGY = """
shadow: {duration: 2s, minSamples: 20}
canary: {steps: [25, 50], interval: 3s}
checks:
  - {name: error-rate, kind: error-rate, threshold: 0.05, minSamples: 5}
  - {name: disagreement, kind: disagreement, threshold: 0.2, minSamples: 20}
keepPreviousWarm: 1s
"""


@dataclass(frozen=True)
class World:
    settings: Settings
    workdir: Path
    pipeline: str
    first: dict
    predict_url: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir = tmp_path_factory.mktemp("user-pipeline")
    (workdir / "my_iris.py").write_text(textwrap.dedent(USER_PIPELINE))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(HOME_ENV, str(workdir / "home"))
        patch.delenv(TRACKING_ENV, raising=False)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        settings = load_settings().ensure_dirs()
        ref = f"{workdir / 'my_iris.py'}:my_iris"
        first = json.loads(
            kubeloop("pipeline", "run", ref, "-p", f"model_name={MODEL}", "--json", timeout=900).stdout
        )
        (workdir / "iris.yaml").write_text(
            f"apiVersion: kubeloop.io/v1alpha1\nkind: ModelDeployment\nmetadata: {{name: iris}}\n"
            f"spec:\n  model: {{name: {MODEL}}}\n"
            f"  serving: {{runtime: kserve, port: {processes.free_port()}}}\n"
        )
        try:
            kubeloop("deploy", str(workdir / "iris.yaml"))
            gateway = processes.gateway_record(settings)
            assert gateway is not None, "kubeloop deploy did not record a gateway"
            yield World(settings, workdir, ref, first, f"{gateway.url}/v1/models/iris:predict")
        finally:
            processes.stop_deployment(settings, "iris")
            processes.stop_gateway(settings)


def test_the_user_pipeline_registers_a_champion_with_digest_and_reference(world: World) -> None:
    assert world.first["state"] == "succeeded" and world.first["passed"] is True, world.first
    assert world.first["version"] == "1" and world.first["model"] == MODEL
    registry = MlflowRegistry(tracking_uri=world.settings.tracking_uri)
    version = registry.get_version(MODEL, "1")
    assert version.aliases == ("champion",)
    assert len(version.tags[TAG_ARTIFACT_SHA256]) == 64
    assert version.tags[TAG_PIPELINE_RUN] == world.first["run_id"]
    assert version.tags[TAG_REFERENCE_SOURCE].startswith("the training data (")
    registry.download_verified(name=MODEL, version="1")  # the digest the servers check holds


def test_the_gateway_serves_the_registered_version(world: World) -> None:
    row = iris_rows()[0]
    answer = httpx.post(world.predict_url, json={"instances": [row]}, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"][0] in ("setosa", "versicolor", "virginica")


def test_a_second_run_starts_a_rollout_from_the_pipeline_and_it_promotes(world: World) -> None:
    strategy = world.workdir / "strategy.yaml"
    strategy.write_text(STRATEGY)
    with Traffic(world.predict_url, rows=iris_rows(), rate=40, threads=2) as load:
        second = json.loads(
            kubeloop(
                "pipeline",
                "run",
                world.pipeline,
                "-p",
                f"model_name={MODEL}",
                "-p",
                "trees=25",
                "-p",
                "deployment=iris",
                "-p",
                f"strategy={strategy}",
                "--json",
                timeout=900,
            ).stdout
        )
        assert second["version"] == "2", second
        # Ended means a terminal phase with no action still pending (the aliases flip after the decision).
        state = wait_for(
            lambda: (s := _state(world)).get("phase") in ("promoted", "rolled-back", "aborted")
            and not s.get("pending")
            and s,
            timeout=240,
            what="the rollout to end",
            show=lambda: _state(world).get("history", [])[-3:],
        )
    assert state["phase"] == "promoted", state["history"][-3:]
    assert load.failed == 0 and load.by_version.get("2", 0) > 0, (load.failures[:3], load.by_version)
    aliases = MlflowRegistry(tracking_uri=world.settings.tracking_uri).get_model(MODEL).aliases
    assert aliases["champion"] == "2" and aliases["previous"] == "1"


def _state(world: World) -> dict:
    try:
        return rollout_state(world.settings, "iris")
    except FileNotFoundError:
        return {}
