"""Concept drift closes the loop: the inputs stay put but the labels say the world changed; the quality
trigger fires, the real training pipeline (kfp.local) trains on the labeled window mixed with the
original data, weighted, and the trail on the new version names the window it learnt from."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest

from kubeloop.drift.job import run_drift_job
from kubeloop.drift.local import local_job
from kubeloop.labels import Label, LocalLabelStore
from kubeloop.predlog import LogStore, PredictionRecord
from kubeloop.registry.mlflow_registry import MlflowRegistry
from kubeloop.registry.names import TAG_GATE_REASON, TAG_TRAIL
from kubeloop.settings import Settings, load_settings
from kubeloop.spec import parse_deployment
from kubeloop.training.config import TrainingConfig
from kubeloop.training.data import default_dataset
from kubeloop.training.outcome import run_in_process
from kubeloop.training.tracking import tracking_client

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
MODEL = "iris-classifier"
RATES = {0: 0.3, 1: 1.0, 2: 0.3}  # stratified by predicted class: every versicolor answer, 30% of the rest


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = load_settings({"KUBELOOP_HOME": str(tmp_path_factory.mktemp("concept"))}).ensure_dirs()
    outcome = run_in_process(TrainingConfig.from_params({"model_name": MODEL}), settings=settings)
    assert outcome.version == "1", outcome
    return settings


def load(settings: Settings, version: str) -> Any:
    import mlflow.pyfunc

    path = MlflowRegistry.from_settings(settings).download_verified(name=MODEL, version=version,
                                                                      dst=settings.home / f"v{version}")
    return mlflow.pyfunc.load_model(str(path))


def new_truth(frame: pd.DataFrame) -> np.ndarray:
    """The world now: versicolor with petals longer than 4.2 cm count as virginica."""
    moved = (frame["target"] == 1) & (frame["petal_length_cm"] > 4.2)
    return np.where(moved, 2, frame["target"]).astype(int)


def answered_and_labeled(settings: Settings, *, start: float) -> int:
    """Every iris flower asked about twice, answered by v1, a stratified sample labeled with the new truth."""
    iris = pd.read_csv(default_dataset(settings.home))
    model = load(settings, "1")
    features = iris.drop(columns=["target"])
    predicted, truth = model.predict(features), new_truth(iris)
    records, labels, rng = [], [], np.random.default_rng(4)
    for copy in range(2):
        for i in range(len(iris)):
            rid, rate = f"c{copy}-{i}", RATES[int(predicted[i])]
            records.append(PredictionRecord(
                request_id=rid, timestamp=start + (copy * len(iris) + i), deployment="iris", model=MODEL,
                version="1", role="champion", inputs=[features.iloc[i].to_dict()],
                outputs=[int(predicted[i])], extra={"inclusion": [rate]}))
            if rng.uniform() < rate:
                labels.append(Label(request_id=rid, label=int(truth[i])))
    store = LogStore(settings.logs_dir)
    store.write(records)
    store.close()
    LocalLabelStore.from_settings(settings).put("iris", labels)
    return len(labels)


def test_a_quality_drop_retrains_on_the_labeled_window_mixed_with_the_data(home: Settings) -> None:
    now = time.time()
    labeled = answered_and_labeled(home, start=now - 600)
    deployment = parse_deployment({"metadata": {"name": "iris"}, "spec": {
        "model": {"name": MODEL},
        "drift": {"minRows": 200, "window": "15m", "consecutiveWindows": 2,
                  "quality": {"metric": "accuracy", "maxDrop": 0.05, "minLabels": 100},
                  "trainOn": "both", "labeled": {"share": 0.8, "minRows": 100},
                  "params": {"data": str(default_dataset(home.home))}}}})
    job = local_job(home, wait_timeout=480, html_reports=False, start_rollout=lambda v: f"started {v}")

    outcome = run_drift_job(job, deployment=deployment, now=now)

    assert outcome.result.status == "no_drift", outcome.result.reason  # the inputs did not move
    reading = outcome.quality
    assert reading is not None and reading.offline == 1.0 and reading.high < 0.95, reading
    assert outcome.decision is not None and outcome.decision.trigger == "quality", outcome.decision
    trail = outcome.trail
    assert trail is not None and trail.model_version == "2", outcome.messages
    assert trail.run_state == "succeeded"
    assert (trail.train_on, trail.labeled_rows) == ("both", labeled)
    assert (trail.labels_since, trail.labels_until) == (now - 900, now)
    registry = MlflowRegistry(tracking_uri=home.tracking_uri)
    tag = json.loads(registry.get_version(MODEL, "2").tags[TAG_TRAIL])
    assert tag["labels_since"] == now - 900 and tag["train_on"] == "both" and tag["trigger"] == "quality"
    assert "weighted by sample_weight" in registry.get_version(MODEL, "2").tags[TAG_GATE_REASON]
    run = tracking_client(home.tracking_uri).get_run(registry.get_version(MODEL, "2").run_id)
    assert run.data.params["sample_weights"] == "sample_weight"
    v2 = load(home, "2")
    moved = pd.read_csv(default_dataset(home.home)).query("target == 1 and petal_length_cm > 4.6")
    assert (v2.predict(moved.drop(columns=["target"])) == 2).mean() > 0.8, "v2 learnt the new boundary"
