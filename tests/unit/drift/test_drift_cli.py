"""`kubeloop drift history`: recent checks and the retrain trail from the state file."""

from __future__ import annotations

import json

import pytest

from kubeloop.cli import main
from kubeloop.drift.policy import QualityReading, WindowOutcome
from kubeloop.drift.state import DriftState, TrailEntry, save_state, state_path
from kubeloop.settings import Settings


def test_history_shows_checks_and_the_trail(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    state = DriftState().with_outcome(WindowOutcome(at=0.0, version="1", status="drift", drift_share=0.5))
    trail = TrailEntry(
        at=0.0,
        source_version="1",
        report="runs:/r/drift/x",
        reason="2 drifted",
        pipeline="training",
        run_id="training-123",
        run_state="succeeded",
        model_version="2",
    )
    save_state(state_path(settings.state_dir, "iris"), state.with_trail(trail, retrain=True))

    main(["drift", "history", "iris"])
    shown = capsys.readouterr().out
    main(["drift", "history", "iris", "--json"])
    data = json.loads(capsys.readouterr().out)

    assert "training-123" in shown and "succeeded" in shown
    assert data["trail"][0]["model_version"] == "2" and data["history"][0]["status"] == "drift"


def test_history_names_the_labeled_window_a_version_was_trained_on(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    dropped = QualityReading(metric="accuracy", value=0.62, low=0.55, high=0.69, labels=140, offline=1.0)
    state = DriftState().with_outcome(WindowOutcome(at=0.0, version="1", status="no_drift", quality=dropped))
    trail = TrailEntry(at=0.0, source_version="1", report="runs:/r/drift/x", reason="quality drop",
                       pipeline="training", run_id="training-7", run_state="succeeded", model_version="2",
                       trigger="quality", train_on="labeled", labels_since=0.0, labels_until=600.0,
                       labeled_rows=140)
    save_state(state_path(settings.state_dir, "iris"), state.with_trail(trail, retrain=True))

    main(["drift", "history", "iris"])
    shown = capsys.readouterr().out
    main(["drift", "history", "iris", "--json"])
    saved = json.loads(capsys.readouterr().out)

    assert trail.trained_on() == "140 labeled answers of 1970-01-01 00:00:00-00:10:00 UTC"
    assert "online accuracy" in shown and "labeled" in shown and "quality" in shown
    assert saved["history"][0]["quality"]["high"] == 0.69
    window = {k: saved["trail"][0][k] for k in ("train_on", "labels_since", "labels_until", "labeled_rows")}
    assert window == {"train_on": "labeled", "labels_since": 0.0, "labels_until": 600.0, "labeled_rows": 140}


def test_history_without_retrains_says_so(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    main(["drift", "history", "iris"])

    assert "no retrains yet" in capsys.readouterr().out


def test_check_of_an_undeployed_deployment_fails_with_one_line(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["drift", "check", "ghost"])

    assert exit_info.value.code == 1
    assert "no deployment 'ghost'" in capsys.readouterr().err
