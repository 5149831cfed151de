"""Every servable flavour end to end: register -> serve -> predict through the gateway -> shadow and
canary -> promote, then a drift check, all through the CLI and HTTP on a real MLflow registry.

XGBoost and LightGBM (columns, KServe runtime), an ONNX network with a float32 tensor signature
(KServe runtime, V2 tensors), and a `mlflow.pyfunc.PythonModel` reading a text column (BentoML
runtime, and a KServe server for the same version answering alike).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from flavour_models import (
    iris_features,
    register_lightgbm,
    register_onnx,
    register_text,
    register_xgboost,
    reviews,
)
from rollout_harness import isolated_home, kubeloop, rollout_state, wait_for

from kubeloop.demo.traffic import Traffic
from kubeloop.local import processes
from kubeloop.registry.mlflow_registry import MlflowRegistry
from kubeloop.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
STRATEGY = """
shadow: {duration: 2s, minSamples: 20}
canary: {steps: [50], interval: 2s}
checks:
  - {name: error-rate, kind: error-rate, threshold: 0.05, minSamples: 5}
  - {name: disagreement, kind: disagreement, threshold: 0.2, minSamples: 20}
keepPreviousWarm: 1s
"""


@dataclass(frozen=True)
class Flavour:
    """One deployment: its model, runtime, the rows its traffic sends."""

    deployment: str
    runtime: str
    rows: list[dict[str, Any]]


def iris_rows() -> list[dict[str, Any]]:
    return iris_features()[0].to_dict("records")


FLAVOURS = {
    "xgboost": Flavour("xgb", "kserve", iris_rows()),
    "lightgbm": Flavour("lgbm", "kserve", iris_rows()),
    "onnx": Flavour("net", "kserve", [{"X": row} for row in iris_features()[0].to_numpy().tolist()]),
    "pyfunc": Flavour("reviews", "bentoml", reviews(seed=5).to_dict("records")),
}


@dataclass(frozen=True)
class World:
    settings: Settings
    gateway: str
    workdir: Path

    def predict(self, deployment: str, body: dict[str, Any], *, v2: bool = False) -> httpx.Response:
        path = f"/v2/models/{deployment}/infer" if v2 else f"/v1/models/{deployment}:predict"
        return httpx.post(self.gateway + path, json=body, timeout=30)


def register_both(settings: Settings, flavour: str, folder: Path) -> None:
    name = FLAVOURS[flavour].deployment
    for seed, aliases in ((0, ("champion",)), (1, ())):
        if flavour == "pyfunc":
            register_text(settings, name=name, seed=seed, aliases=aliases, folder=folder)
        else:
            register = {"xgboost": register_xgboost, "lightgbm": register_lightgbm, "onnx": register_onnx}
            register[flavour](settings, name=name, seed=seed, aliases=aliases)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir = tmp_path_factory.mktemp("flavours")
    with isolated_home(workdir) as settings:
        for flavour in FLAVOURS:
            register_both(settings, flavour, workdir)
        try:
            for flavour in FLAVOURS.values():
                path = workdir / f"{flavour.deployment}.yaml"
                path.write_text(
                    f"apiVersion: kubeloop.io/v1alpha1\nkind: ModelDeployment\nmetadata: {{name: "
                    f"{flavour.deployment}}}\nspec:\n  model: {{name: {flavour.deployment}}}\n"
                    f"  serving: {{runtime: {flavour.runtime}, port: {processes.free_port()}}}\n"
                    "  drift: {minRows: 30, window: 1h}\n")
                kubeloop("deploy", str(path))
            with ThreadPoolExecutor(max_workers=2) as pool:  # the challengers, started before the rollouts
                list(pool.map(lambda f: processes.start_server(
                    settings, deployment=f.deployment, model=f.deployment, version="2", runtime=f.runtime,
                    timeout=180), FLAVOURS.values()))
            gateway = processes.gateway_record(settings)
            assert gateway is not None
            yield World(settings, gateway.url, workdir)
        finally:
            for flavour in FLAVOURS.values():
                processes.stop_deployment(settings, flavour.deployment)
            processes.stop_gateway(settings)


@pytest.mark.parametrize("flavour", list(FLAVOURS))
def test_a_flavour_is_served_rolled_out_and_promoted(world: World, flavour: str) -> None:
    spec = FLAVOURS[flavour]
    answer = world.predict(spec.deployment, {"instances": spec.rows[:3]})
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["predictions"]) == 3
    strategy = world.workdir / f"{spec.deployment}-strategy.yaml"
    strategy.write_text(STRATEGY)
    with Traffic(f"{world.gateway}/v1/models/{spec.deployment}:predict", rows=spec.rows, rate=40,
                 threads=2) as load:
        kubeloop("rollout", "start", spec.deployment, "--version", "2", "--strategy", str(strategy), "--wait",
                 timeout=240)
        state = wait_for(lambda: (s := rollout_state(world.settings, spec.deployment)).get("phase")
                         in ("promoted", "rolled-back", "aborted") and not s.get("pending") and s,
                         timeout=120, what=f"the {flavour} rollout to end")
    moves = [(e["kind"], e["weight"]) for e in state["history"] if e["kind"] != "hold"]
    assert state["phase"] == "promoted", state["history"]
    assert moves[-2:] == [("advance", 50), ("promote", 100)], state["history"]
    assert load.failed == 0, load.failures[:3]
    assert {"1", "2"} <= set(load.by_version), load.by_version
    aliases = MlflowRegistry(tracking_uri=world.settings.tracking_uri).get_model(spec.deployment).aliases
    assert aliases["champion"] == "2"


@pytest.mark.parametrize("flavour", list(FLAVOURS))
def test_served_answers_equal_mlflows_on_the_same_rows(world: World, flavour: str) -> None:
    import mlflow.pyfunc
    import numpy as np
    import pandas as pd

    spec = FLAVOURS[flavour]
    registry = MlflowRegistry(tracking_uri=world.settings.tracking_uri)
    version = registry.get_model(spec.deployment).aliases["champion"]
    path = str(registry.download_verified(name=spec.deployment, version=version))
    (server,) = [r for r in processes.server_records(world.settings, spec.deployment) if r.version == version]
    served = httpx.post(f"{server.url}/v1/models/{spec.deployment}:predict", json={"instances": spec.rows},
                        timeout=60).json()
    if flavour == "onnx":
        outputs = mlflow.pyfunc.load_model(path).predict(np.asarray([r["X"] for r in spec.rows], np.float32))
        labels, probabilities = outputs["label"], outputs["probabilities"]
    else:
        frame = pd.DataFrame(spec.rows)
        labels = mlflow.pyfunc.load_model(path).predict(frame)
        native = {"xgboost": "mlflow.xgboost", "lightgbm": "mlflow.lightgbm"}.get(flavour)
        loaded = importlib.import_module(native).load_model(path) if native else None
        probabilities = None if loaded is None else loaded.predict_proba(frame)
    assert served["predictions"] == np.asarray(labels).tolist()
    if probabilities is not None:
        assert np.max(np.abs(np.asarray(served["probabilities"]) - probabilities)) <= 1e-6


def test_classifiers_answer_classes_and_probabilities(world: World) -> None:
    rows = FLAVOURS["lightgbm"].rows[:2]
    lightgbm = world.predict("lgbm", {"instances": rows}).json()
    assert lightgbm["classes"] == ["setosa", "versicolor", "virginica"]
    assert all(abs(sum(p) - 1) < 1e-9 for p in lightgbm["probabilities"])
    xgboost = world.predict("xgb", {"dataframe_records": FLAVOURS["xgboost"].rows[:2]}).json()
    assert xgboost["classes"] == [0, 1, 2] and len(xgboost["probabilities"][0]) == 3


def test_an_onnx_tensor_model_speaks_v2_with_its_datatypes_and_shapes(world: World) -> None:
    flat = [value for row in FLAVOURS["onnx"].rows[:2] for value in row["X"]]
    body = {"inputs": [{"name": "X", "shape": [2, 4], "datatype": "FP32", "data": flat}]}
    answer = world.predict("net", body, v2=True)
    assert answer.status_code == 200, answer.text
    outputs = {o["name"]: o for o in answer.json()["outputs"]}
    assert (outputs["predictions"]["datatype"], outputs["predictions"]["shape"]) == ("INT64", [2])
    assert (outputs["probabilities"]["datatype"], outputs["probabilities"]["shape"]) == ("FP64", [2, 3])
    metadata = httpx.get(f"{processes.server_records(world.settings, 'net')[0].url}/v2/models/net").json()
    assert metadata["inputs"] == [{"name": "X", "datatype": "FP32", "shape": [-1, 4]}]
    wrong = world.predict("net", {"inputs": [{**body["inputs"][0], "shape": [4, 2]}]}, v2=True)
    assert wrong.status_code == 400 and "shape [4, 2], the model takes [n, 4]" in wrong.json()["error"]


def test_a_text_model_is_answered_alike_by_both_runtimes(world: World) -> None:
    rows = FLAVOURS["pyfunc"].rows[:20]
    (bento,) = [r for r in processes.server_records(world.settings, "reviews") if r.version == "2"]
    kserve = processes.start_server(world.settings, deployment="reviews-kserve", model="reviews", version="2",
                                    runtime="kserve", timeout=180)
    try:
        answers = [httpx.post(f"{record.url}/v1/models/reviews:predict", json={"instances": rows},
                              timeout=30).json() for record in (bento, kserve)]
    finally:
        processes.stop_deployment(world.settings, "reviews-kserve")
    assert answers[0] == answers[1] and set(answers[0]["predictions"]) == {"positive", "negative"}


@pytest.mark.parametrize(("deployment", "statuses"), [
    ("lgbm", ("drift", "no_drift")), ("reviews", ("drift", "no_drift")), ("net", ("no_reference",))])
def test_a_drift_check_gives_each_kind_of_input_a_clear_status(
    world: World, deployment: str, statuses: tuple[str, ...]
) -> None:
    done = kubeloop("drift", "check", deployment, "-f", str(world.workdir / f"{deployment}.yaml"), "--window",
                    "1h", "--no-retrain", "--no-html", "--json")
    result = json.loads(done.stdout)["result"]
    assert result["status"] in statuses, result
