"""`kubeloop demo --fast` as a user runs it; then the registry, prediction logs and rollouts are checked."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kubeloop.controller.local import live_pid
from kubeloop.demo.config import DEPLOYMENT, MODEL
from kubeloop.drift.state import load_state, state_path
from kubeloop.local import processes
from kubeloop.platform_services import running_server
from kubeloop.predlog.reader import read_predictions
from kubeloop.registry.mlflow_registry import MlflowRegistry
from kubeloop.registry.names import (
    TAG_GATE_VERDICT,
    TAG_ROLLOUT_OUTCOME,
    TAG_ROLLOUT_REASON,
    TAG_TRAIL,
)
from kubeloop.rollout.state import Phase
from kubeloop.rollout.store import StateStore
from kubeloop.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, str, float]:
    home = tmp_path_factory.mktemp("demo") / "home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KUBELOOP_HOME", str(home))
        patch.delenv("KUBELOOP_TRACKING_URI", raising=False)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        from kubeloop.settings import load_settings

        settings = load_settings()
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "kubeloop", "demo", "--fast"],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    assert done.returncode == 0, f"kubeloop demo --fast failed:\n{done.stderr[-3000:]}"
    return settings, done.stdout + done.stderr, time.monotonic() - started


def test_v2_is_champion_and_the_broken_v3_was_rolled_back(demo: tuple[Settings, str, float]) -> None:
    settings, _, _ = demo
    registry = MlflowRegistry(tracking_uri=settings.tracking_uri)
    versions = sorted(int(v.version) for v in registry.list_versions(MODEL))
    aliases = {k: str(v) for k, v in registry.get_model(MODEL).aliases.items()}
    v2, v3 = (dict(registry.get_version(MODEL, v).tags) for v in ("2", "3"))

    assert versions == [1, 2, 3]
    assert aliases["champion"] == "2" and aliases["previous"] == "1", aliases
    assert v2[TAG_GATE_VERDICT] == "passed" and v2[TAG_ROLLOUT_OUTCOME] == "promoted"
    assert json.loads(v2[TAG_TRAIL])["source_version"] == "1"
    assert v3[TAG_ROLLOUT_OUTCOME] == "rolled-back" and "error-rate" in v3[TAG_ROLLOUT_REASON], v3


def test_drift_was_seen_only_after_the_shift_and_retrained_once(demo: tuple[Settings, str, float]) -> None:
    settings, _, _ = demo
    state = load_state(state_path(settings.state_dir, DEPLOYMENT))

    assert [w.status for w in state.history] == ["no_drift", "drift"]
    assert len(state.trail) == 1 and state.trail[0].model_version == "2"
    assert state.trail[0].run_state == "succeeded" and "started" in (state.trail[0].rollout or "")


def test_rollout_history_shadow_canary_promotion_then_rollback(demo: tuple[Settings, str, float]) -> None:
    settings, _, _ = demo
    store = StateStore(settings.state_dir)
    (promoted,) = store.archived(DEPLOYMENT)
    current = store.load(DEPLOYMENT)

    moves = [(e.kind, e.weight) for e in promoted.history if e.kind != "hold"]
    assert promoted.challenger == "2" and promoted.phase is Phase.PROMOTED
    assert moves == [("advance", 25), ("advance", 50), ("promote", 100)], moves
    assert "shadow passed" in promoted.history[0].reason or any(
        "shadow passed" in e.reason for e in promoted.history
    )
    assert current is not None and current.challenger == "3" and current.phase is Phase.ROLLED_BACK
    assert "error-rate" in current.history[-1].reason


def test_prediction_logs_hold_every_version_and_the_shift(demo: tuple[Settings, str, float]) -> None:
    settings, _, _ = demo
    logs = read_predictions(settings, DEPLOYMENT)
    by_version = logs.groupby("version").size().to_dict()

    assert {"1", "2", "3"} <= set(by_version), by_version
    petals = logs.loc[logs["version"] == "1", "input.petal_length_cm"].astype(float)
    assert petals.max() > 8.0, "the shifted (grown) inputs reached the champion"


def test_everything_it_started_is_stopped_and_the_summary_printed(demo: tuple[Settings, str, float]) -> None:
    settings, output, seconds = demo

    assert processes.gateway_record(settings) is None
    assert not [r for r in processes.server_records(settings, DEPLOYMENT) if r.alive()]
    assert running_server(settings) is None and live_pid(settings, DEPLOYMENT) is None
    assert "every decision, with its reason" in output and "mlflow ui" in output
    assert Path(settings.logs_dir).is_dir()
    print(f"kubeloop demo --fast took {seconds:.0f}s")
