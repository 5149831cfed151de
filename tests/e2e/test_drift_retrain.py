"""The loop closes: a real trained model drifts, the policy starts the real training pipeline (kfp.local),
a new version registers, and the trail is on both versions in MLflow and in the state file."""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pandas as pd
import pytest

from kubeloop.drift.job import run_drift_job
from kubeloop.drift.local import local_job
from kubeloop.drift.state import load_state, state_path
from kubeloop.drift.store import MlflowDriftStore
from kubeloop.predlog import LogStore, PredictionRecord
from kubeloop.registry.mlflow_registry import MlflowRegistry
from kubeloop.registry.names import TAG_TRAIL
from kubeloop.settings import Settings, load_settings
from kubeloop.spec import parse_deployment
from kubeloop.training.config import TrainingConfig
from kubeloop.training.data import default_dataset
from kubeloop.training.outcome import run_in_process

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
MODEL = "iris-classifier"
HOUR = 3600.0


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = load_settings({"KUBELOOP_HOME": str(tmp_path_factory.mktemp("retrain"))}).ensure_dirs()
    outcome = run_in_process(TrainingConfig.from_params({"model_name": MODEL}), settings=settings)
    assert outcome.version == "1", outcome
    return settings


def shifted_traffic(settings: Settings, *, start: float, rows: int) -> None:
    """Live requests whose petals grew: every feature moves, and so do the predicted classes."""
    iris = pd.read_csv(default_dataset(settings.home)).drop(columns=["target"])
    rng = np.random.default_rng(5)
    frame = iris.sample(n=rows, replace=True, random_state=5).reset_index(drop=True) * 1.3
    frame += rng.normal(0, 0.05, frame.shape)
    store = LogStore(settings.logs_dir)
    store.write(
        [
            PredictionRecord(
                request_id=f"r{i}",
                timestamp=start + i * 0.9 * HOUR / rows,
                deployment="iris",
                model=MODEL,
                version="1",
                role="champion",
                inputs=[frame.iloc[i].to_dict()],
                outputs=[int(frame.iloc[i]["petal_length_cm"] > 4.8) + 1],
            )
            for i in range(rows)
        ]
    )
    store.close()


def test_the_registered_reference_has_a_profile_with_predictions(home: Settings) -> None:
    reference = MlflowDriftStore(tracking_uri=home.tracking_uri).load_reference(MODEL, "1")

    assert reference.sample is not None and len(reference.sample) == 114  # the training split
    assert set(reference.profile["features"]) == set(reference.sample.columns)
    assert reference.profile["prediction"]["kind"] == "categorical"
    assert sum(reference.profile["prediction"]["counts"].values()) == 114


def test_drift_starts_the_training_pipeline_and_the_trail_reaches_the_new_version(home: Settings) -> None:
    incoming = home.home / "incoming"
    incoming.mkdir()
    shutil.copy(default_dataset(home.home), incoming / "iris-2026-11.csv")
    now = time.time()
    shifted_traffic(home, start=now - 0.95 * HOUR, rows=400)
    deployment = parse_deployment(
        {
            "metadata": {"name": "iris"},
            "spec": {
                "model": {"name": MODEL},
                "drift": {
                    "minRows": 200,
                    "consecutiveWindows": 1,
                    "window": "1h",
                    "params": {"data": str(incoming / "*.csv"), "gate_min_improvement": -1},
                },
            },
        }
    )
    rollouts: list[str] = []  # the rollout itself is the rollout engine's; here we see it asked for
    job = local_job(
        home,
        wait_timeout=480,
        html_reports=False,
        start_rollout=lambda version: rollouts.append(version) or f"started {version}",
    )

    outcome = run_drift_job(job, deployment=deployment, now=now)

    assert outcome.result.status == "drift", outcome.result.reason
    assert outcome.result.prediction is not None and outcome.result.prediction.drifted
    assert outcome.decision is not None and outcome.decision.fire, outcome.messages
    trail = outcome.trail
    assert trail is not None and trail.run_state == "succeeded", outcome.messages
    assert trail.model_version == "2" and rollouts == ["2"]
    registry = MlflowRegistry(tracking_uri=home.tracking_uri)
    for version in ("1", "2"):
        tag = json.loads(registry.get_version(MODEL, version).tags[TAG_TRAIL])
        assert tag["run_id"] == trail.run_id and tag["report"].startswith("runs:/")
    assert json.loads(registry.get_version(MODEL, "2").tags[TAG_TRAIL])["rollout"] == "started 2"
    saved = load_state(state_path(home.state_dir, "iris"))
    assert saved.last_retrain_at == now and saved.trail[-1].model_version == "2"
