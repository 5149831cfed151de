"""The demo's loop function on undrifted traffic: window after window, no drift and never a retrain."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kubeloop.demo.config import FAST, MODEL, demo_deployment
from kubeloop.demo.data import write_datasets
from kubeloop.demo.watch import check_window
from kubeloop.drift.state import load_state, state_path
from kubeloop.predlog import LogStore, PredictionRecord
from kubeloop.settings import Settings
from kubeloop.training.config import TrainingConfig
from kubeloop.training.outcome import run_in_process

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
WINDOWS, ROWS = 12, 150


def undrifted_logs(settings: Settings, *, start: float, window: float, seed: int) -> None:
    """One window of live rows drawn from the same iris table v1 was trained on, labelled correctly."""
    iris = pd.read_csv(write_datasets(settings).original)
    rows = iris.sample(n=ROWS, replace=True, random_state=seed).reset_index(drop=True)
    rng = np.random.default_rng(seed)
    store = LogStore(settings.logs_dir)
    store.write(
        [
            PredictionRecord(
                request_id=f"w{seed}-{i}",
                timestamp=start + float(rng.uniform(0, window)),
                deployment="iris",
                model=MODEL,
                version="1",
                role="champion",
                inputs=[rows.drop(columns=["target"]).iloc[i].to_dict()],
                outputs=[int(rows["target"].iloc[i])],
            )
            for i in range(ROWS)
        ]
    )
    store.close()


def test_no_retrain_fires_over_many_undrifted_windows(settings: Settings) -> None:
    write_datasets(settings)
    outcome = run_in_process(TrainingConfig.from_params({"model_name": MODEL}), settings=settings)
    assert outcome.version == "1", outcome
    deployment = demo_deployment(timing=FAST, port=8080)
    window, start = deployment.spec.drift.window, 1_700_000_000.0

    statuses = []
    for index in range(WINDOWS):
        begin = start + index * window
        undrifted_logs(settings, start=begin, window=window, seed=index)
        result = check_window(settings, deployment, now=begin + window, html_report=False)
        statuses.append(result.result.status)
        assert result.decision is not None and not result.decision.fire, result.decision
        assert result.trail is None

    assert statuses.count("no_drift") == WINDOWS, statuses
    saved = load_state(state_path(settings.state_dir, "iris"))
    assert saved.last_retrain_at is None and not saved.trail
    assert not (settings.home / "pipelines").exists() or not any((settings.home / "pipelines").iterdir())
