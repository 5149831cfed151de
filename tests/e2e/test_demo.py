"""`kubeloop demo --fast` as a user runs it, watched by a real Prometheus on loopback: then the registry,
prediction logs and rollouts are checked, and every dashboard panel's query must return data.

The demo runs once for the module. A Pushgateway takes the drift job's metrics
(KUBELOOP_PUSHGATEWAY_URL), and a discovery thread points Prometheus at the gateway, the model servers
and the rollout controllers as the demo starts and stops them (from the records they leave in the
demo's home), so the dashboards see what an SRE would see during the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_harness import (
    Discovery,
    LocalPrometheus,
    local_prometheus,
    local_pushgateway,
    panel_queries,
    wait_for,
)

from kubeloop.controller.local import controller_records, live_pid
from kubeloop.demo.config import DEPLOYMENT, FAST, MODEL, QUALITY_DROP
from kubeloop.drift.state import load_state, state_path
from kubeloop.labels import LocalLabelStore
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
from kubeloop.rollout.file_store import FileStateStore
from kubeloop.rollout.state import Phase
from kubeloop.settings import HOME_ENV, PUSHGATEWAY_ENV, TRACKING_ENV, Settings, load_settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

JOBS = {"gateway", "model-server", "rollout-controller", "pushgateway"}


@dataclass(frozen=True)
class Watched:
    """The demo's run and what Prometheus saw of it, from `start` to `end` (epoch seconds)."""

    settings: Settings
    output: str
    seconds: float
    prometheus: LocalPrometheus
    start: float
    end: float
    seen: dict[str, set[str]]


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Watched]:
    workdir = tmp_path_factory.mktemp("demo")
    with (
        pytest.MonkeyPatch.context() as patch,
        local_pushgateway(workdir) as pushgateway,
        local_prometheus(workdir / "prometheus") as prometheus,
    ):
        patch.setenv(HOME_ENV, str(workdir / "home"))
        patch.setenv(PUSHGATEWAY_ENV, pushgateway)
        patch.delenv(TRACKING_ENV, raising=False)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        settings = load_settings()
        with Discovery(prometheus, settings, pushgateway=pushgateway) as discovery:
            wait_for(lambda: "pushgateway" in prometheus.active_jobs(), timeout=30, what="a first scrape")
            start, started = time.time(), time.monotonic()
            done = subprocess.run(
                [sys.executable, "-m", "kubeloop", "demo", "--fast"],
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "COLUMNS": "1000"},  # the decision table's cells unwrapped
            )
            seconds = time.monotonic() - started
            time.sleep(2)  # the Pushgateway's last push, scraped
        assert done.returncode == 0, f"kubeloop demo --fast failed:\n{done.stderr[-3000:]}"
        assert discovery.error is None, f"target discovery failed: {discovery.error!r}"
        yield Watched(
            settings=settings,
            output=done.stdout + done.stderr,
            seconds=seconds,
            prometheus=prometheus,
            start=start,
            end=time.time(),
            seen=discovery.seen,
        )


@pytest.fixture(scope="module")
def demo(watched: Watched) -> tuple[Settings, str, float]:
    return watched.settings, watched.output, watched.seconds


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


def test_the_champions_online_accuracy_fell_and_v2_was_trained_on_the_labeled_window(
    demo: tuple[Settings, str, float],
) -> None:
    settings, output, _ = demo
    state = load_state(state_path(settings.state_dir, DEPLOYMENT))
    before, after = (w.quality for w in state.history)
    registry = MlflowRegistry(tracking_uri=settings.tracking_uri)
    trail = json.loads(registry.get_version(MODEL, "2").tags[TAG_TRAIL])

    assert before is not None and after is not None and before.offline == after.offline == 1.0
    assert before.high > 1.0 - QUALITY_DROP > after.high, (before, after)  # held, then a drop was shown
    assert after.labels >= FAST.min_labels and after.value < before.value - 0.15
    assert "quality" in trail["trigger"] and trail["train_on"] == "labeled"
    assert trail["labels_until"] - trail["labels_since"] == FAST.drift_window
    assert trail["labeled_rows"] >= 2 * FAST.min_labels
    assert "online quality (shifted traffic)" in output and "dropped" in output
    labels = LocalLabelStore.from_settings(settings)
    assert labels.counts(DEPLOYMENT)["refused"] == 0 and labels.counts(DEPLOYMENT)["stored"] > 200


def test_v2_won_the_paired_quality_check_in_shadow_before_any_caller_saw_it(
    demo: tuple[Settings, str, float],
) -> None:
    settings, _, _ = demo
    (promoted,) = FileStateStore(settings.state_dir).archived(DEPLOYMENT)

    judged = [(e, c) for e in promoted.history for c in e.checks
              if c.kind == "quality" and c.verdict != "inconclusive"]
    entry, check = judged[0]
    assert check.verdict == "pass" and "not worse by more than 0.02" in check.reason, check
    # Judged in the shadow analysis: while the shadow held, or in the decision that ended it.
    assert entry.phase is Phase.SHADOW or entry.reason.startswith("shadow passed"), entry
    assert check.samples >= FAST.min_labels and "pairs" in check.reason
    assert all(c.verdict == "pass" for e, c in judged), "it stayed not worse at every canary step"


def test_rollout_history_shadow_canary_promotion_then_rollback(demo: tuple[Settings, str, float]) -> None:
    settings, _, _ = demo
    store = FileStateStore(settings.state_dir)
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
    assert controller_records(settings) == []
    assert not (settings.state_dir / "serving" / "supervisor.json").exists(), "the supervisor is stopped"
    assert "every decision, with its reason" in output and "mlflow ui" in output
    closing = " ".join(output.split())  # rich wraps long lines
    assert "the links above no longer answer" in closing, "the closing text says they are gone"
    assert Path(settings.logs_dir).is_dir()
    print(f"kubeloop demo --fast took {seconds:.0f}s")


def test_prometheus_scraped_the_processes_the_demo_started(watched: Watched) -> None:
    def instances(expr: str) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for series in watched.prometheus.query_range(expr, start=watched.start, end=watched.end, step="1s"):
            found.setdefault(series["metric"]["job"], set()).add(series["metric"]["instance"])
        return found

    seen, up = watched.seen, instances("up == 1")
    # Every process recorded itself with its port: one server per version, one controller per rollout.
    assert len(seen["model-server"]) == 3 and len(seen["rollout-controller"]) == 2, seen
    assert JOBS <= set(up), f"jobs never scraped: {JOBS - set(up)}"
    assert all(up[job] <= seen[job] for job in up), (up, seen)
    # Prometheus applies target changes in 5 s batches: v3's controller (a rollback ~3 s after its
    # start) may end before its first scrape; v2's (alive through keepPreviousWarm) is scraped.
    exported = instances("kubeloop_rollout_phase").get("rollout-controller", set())
    assert exported and exported <= seen["rollout-controller"], f"rollout metrics from {exported}"
    printed = [a for a in seen["rollout-controller"] if f"{a}/metrics" in watched.output]
    assert sorted(printed) == sorted(seen["rollout-controller"]), "the demo lists its controllers"


def test_every_dashboard_panel_returns_data(watched: Watched) -> None:
    empty = [
        f"{dashboard} / {title}: {expr}"
        for dashboard, title, expr in panel_queries()
        if not watched.prometheus.query_range(expr, start=watched.start, end=watched.end, step="2s")
    ]
    assert not empty, "panels without data:\n" + "\n".join(empty)
