"""The drift job with fake collaborators: verdicts, retrains, trail, cooldown and every failure path."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from kubeloop.drift.check import Reference
from kubeloop.drift.job import DriftJob, run_drift_job, window_frame
from kubeloop.drift.metrics import DriftMetrics
from kubeloop.drift.state import load_state, state_path
from kubeloop.pipelines.base import PipelineRun, RunStatus
from kubeloop.spec import ModelDeployment, parse_deployment
from kubeloop.telemetry.push import Pushed

from .fakes import FakeLabels, FakeRunner, FakeStore, labeled_window, logs, reference_sample

HOUR = 3600.0


def deployment(**drift: object) -> ModelDeployment:
    spec = {"consecutiveWindows": 2, "cooldown": "6h", "minRows": 200, "window": "1h", **drift}
    return parse_deployment(
        {"metadata": {"name": "iris"}, "spec": {"model": {"name": "iris"}, "drift": spec}}
    )


@pytest.fixture
def store() -> FakeStore:
    return FakeStore(references={"1": Reference.from_sample(reference_sample())})


def make_job(
    tmp_path: Path, store: FakeStore, windows: dict[float, pd.DataFrame], **kwargs: object
) -> DriftJob:
    def read_logs(name: str, version: str, since: float, until: float) -> pd.DataFrame:
        assert (name, version, until - since) == ("iris", "1", HOUR)
        return windows[until]

    kwargs.setdefault("html_reports", False)
    return DriftJob(store=store, read_logs=read_logs, state_dir=tmp_path, **kwargs)  # type: ignore[arg-type]


def test_window_frame_strips_prefixes_and_failed_requests() -> None:
    raw = logs(4)
    raw.loc[0, "status"] = 500

    frame = window_frame(raw)

    assert list(frame.columns) == ["a", "b", "prediction"]
    assert len(frame) == 3


def test_no_drift_over_many_windows_never_retrains(tmp_path: Path, store: FakeStore) -> None:
    runner = FakeRunner()
    times = [HOUR * i for i in range(1, 13)]
    job = make_job(tmp_path, store, {t: logs(400, seed=int(t)) for t in times}, runner=runner)

    outcomes = [run_drift_job(job, deployment=deployment(), now=t) for t in times]

    assert [o.result.status for o in outcomes] == ["no_drift"] * 12
    assert runner.submitted == []
    assert all(not o.decision.fire for o in outcomes if o.decision)
    assert len(load_state(state_path(tmp_path, "iris")).history) == 12
    assert store.reports[0]["summary"]["status"] == "no_drift"


def test_drift_streak_retrains_once_records_the_trail_and_cooldown_holds(
    tmp_path: Path, store: FakeStore
) -> None:
    runner, rollouts = FakeRunner(), []
    times = [HOUR * i for i in range(1, 6)]
    job = make_job(
        tmp_path,
        store,
        {t: logs(400, shift=0.5, seed=int(t)) for t in times},
        runner=runner,
        wait_timeout=60.0,
        start_rollout=lambda v: rollouts.append(v) or f"rollout of v{v} started",
    )
    spec = deployment(params={"data": "s3://bucket/new.csv"}, pipeline="training")

    outcomes = [run_drift_job(job, deployment=spec, now=t) for t in times]

    assert [o.result.status for o in outcomes] == ["drift"] * 5
    assert [o.decision.fire for o in outcomes] == [False, True, False, False, False]
    assert "cooldown" in outcomes[2].decision.reason
    assert runner.submitted == [("training", {"data": "s3://bucket/new.csv", "model_name": "iris"})]
    assert rollouts == ["2"]
    trail = outcomes[1].trail
    assert trail is not None
    assert (trail.source_version, trail.run_id, trail.model_version) == ("1", "run-1", "2")
    assert trail.report.startswith("runs:/run-1/drift/")
    assert trail.rollout == "rollout of v2 started"
    assert store.trails["2"]["run_id"] == "run-1" and store.trails["1"]["pipeline"] == "training"
    saved = json.loads(state_path(tmp_path, "iris").read_text())
    assert saved["last_retrain_at"] == 2 * HOUR
    assert saved["trail"][0]["model_version"] == "2"
    exported = job.metrics.exposition()
    assert 'kubeloop_pipeline_runs_total{pipeline="training",state="submitted"} 1.0' in exported
    assert 'kubeloop_pipeline_runs_total{pipeline="training",state="succeeded"} 1.0' in exported
    assert 'kubeloop_retrains_total{deployment="iris",reason="drift"} 1.0' in exported


def test_missing_reference_is_reported_and_never_retrains(tmp_path: Path) -> None:
    store, runner = FakeStore(references={}), FakeRunner()
    times = [HOUR * i for i in range(1, 5)]
    job = make_job(tmp_path, store, {t: logs(400, shift=1.0) for t in times}, runner=runner)

    outcomes = [run_drift_job(job, deployment=deployment(), now=t) for t in times]

    assert {o.result.status for o in outcomes} == {"no_reference"}
    assert outcomes[0].result.reason == "model 'iris' version 1 has no reference"
    assert runner.submitted == []


def test_empty_window_is_not_enough_data_and_never_retrains(tmp_path: Path, store: FakeStore) -> None:
    runner = FakeRunner()
    empty = logs(0)
    job = make_job(tmp_path, store, {HOUR: empty, 2 * HOUR: empty, 3 * HOUR: empty}, runner=runner)

    outcomes = [run_drift_job(job, deployment=deployment(), now=t) for t in (HOUR, 2 * HOUR, 3 * HOUR)]

    assert {o.result.status for o in outcomes} == {"not_enough_data"}
    assert runner.submitted == []
    assert "missing data never triggers a retrain" in outcomes[-1].decision.reason


def test_backend_failures_are_reported_not_raised(tmp_path: Path, store: FakeStore) -> None:
    def broken(*_: object) -> pd.DataFrame:
        raise OSError("log store unreachable")

    job = DriftJob(store=store, read_logs=broken, state_dir=tmp_path, pushgateway_url="http://127.0.0.1:9")

    outcome = run_drift_job(job, deployment=deployment(), now=HOUR)

    assert outcome.result.status == "failed"
    assert outcome.result.reason == "OSError: log store unreachable"
    assert outcome.push is not None and not outcome.push.ok
    assert any(m.startswith("Pushgateway http://127.0.0.1:9 unreachable") for m in outcome.messages)


def test_no_champion_is_reported(tmp_path: Path) -> None:
    job = make_job(tmp_path, FakeStore(champion_version=None), {})

    outcome = run_drift_job(job, deployment=deployment(), now=HOUR)

    assert outcome.version is None
    assert outcome.result.reason == "model 'iris' has no champion version to check for drift"


def test_report_store_failure_keeps_the_verdict(tmp_path: Path, store: FakeStore) -> None:
    store.fail_reports = True
    job = make_job(tmp_path, store, {HOUR: logs(400)})

    outcome = run_drift_job(job, deployment=deployment(), now=HOUR)

    assert outcome.result.status == "no_drift" and outcome.report is None
    assert "could not store the report: OSError: artifact store is read-only" in outcome.messages


@pytest.mark.parametrize(
    ("runner", "params", "message"),
    [
        (FakeRunner(fail_submit=True), {}, "the pipeline was not submitted: pipeline backend down"),
        (None, {}, "no pipeline runner is configured"),
        (FakeRunner(), {"data": "/nowhere/*.csv"}, "training data data='/nowhere/*.csv' matches no file"),
    ],
)
def test_retrain_that_cannot_start_starts_no_cooldown(
    tmp_path: Path, store: FakeStore, runner: FakeRunner | None, params: dict[str, str], message: str
) -> None:
    times = [HOUR, 2 * HOUR, 3 * HOUR]
    job = make_job(tmp_path, store, {t: logs(400, shift=0.5) for t in times}, runner=runner)

    outcomes = [run_drift_job(job, deployment=deployment(params=params), now=t) for t in times]

    assert not any(o.decision.fire for o in outcomes)
    assert message in outcomes[1].decision.reason and message in outcomes[2].decision.reason
    assert load_state(state_path(tmp_path, "iris")).last_retrain_at is None


def test_glob_params_resolve_to_the_newest_file(tmp_path: Path, store: FakeStore) -> None:
    import os

    for index, name in enumerate(["old.csv", "new.csv"]):
        path = tmp_path / name
        path.write_text("x\n")
        os.utime(path, (1000 + index, 1000 + index))
    runner = FakeRunner()
    job = make_job(tmp_path, store, {t: logs(400, shift=0.5) for t in (HOUR, 2 * HOUR)}, runner=runner)

    for t in (HOUR, 2 * HOUR):
        run_drift_job(job, deployment=deployment(params={"data": str(tmp_path / "*.csv")}), now=t)

    assert runner.submitted == [("training", {"data": str(tmp_path / "new.csv"), "model_name": "iris"})]


def test_decided_check_stores_the_evidently_report(tmp_path: Path, store: FakeStore) -> None:
    job = make_job(tmp_path, store, {HOUR: logs(400, shift=0.5)}, html_reports=True)

    outcome = run_drift_job(job, deployment=deployment(), now=HOUR)

    html = store.reports[0]["html"]
    assert outcome.result.status == "drift"
    assert 'id="kubeloop-banner"' in html and "iris: iris v1" in html
    assert store.reports[0]["summary"]["drifted_features"] == ["a", "b"]


def test_run_when_due_follows_the_schedule(tmp_path: Path, store: FakeStore) -> None:
    from kubeloop.drift.loop import run_when_due

    job = make_job(tmp_path, store, {HOUR: logs(400), HOUR + 600: logs(400), HOUR + 900: logs(400)})
    spec = deployment(schedule="15m")

    first = run_when_due(job, deployment=spec, now=HOUR)
    early = run_when_due(job, deployment=spec, now=HOUR + 600)
    later = run_when_due(job, deployment=spec, now=HOUR + 900)

    assert first is not None and first.result.status == "no_drift"
    assert early is None
    assert later is not None
    assert run_when_due(job, deployment=deployment(enabled=False), now=10 * HOUR) is None


def test_rollout_via_cli_reports_a_refusal(tmp_path: Path) -> None:
    from kubeloop.drift.loop import rollout_via_cli
    from kubeloop.errors import KubeloopError
    from kubeloop.settings import load_settings

    settings = load_settings({"KUBELOOP_HOME": str(tmp_path)}).ensure_dirs()

    with pytest.raises(KubeloopError, match="no deployment 'ghost'"):
        rollout_via_cli(settings, "ghost")("2")


def test_a_check_that_raises_is_a_failed_result(tmp_path: Path, store: FakeStore) -> None:
    raw = logs(400)
    doubled = pd.concat([raw, raw[["input.a"]]], axis=1)  # two columns of one name: no test can read it

    outcome = run_drift_job(make_job(tmp_path, store, {HOUR: doubled}), deployment=deployment(), now=HOUR)

    assert outcome.result.status == "failed"
    assert outcome.result.rows == 400
    assert outcome.decision is not None and not outcome.decision.fire


class RecordingMetrics(DriftMetrics):
    """Drift metrics whose pushes are kept (the exposition at each push) instead of sent."""

    def __init__(self) -> None:
        super().__init__()
        self.pushed: list[str] = []

    def push(self, *, url: str, deployment: str, timeout: float = 5.0) -> Pushed:
        """Keep what would have been pushed."""
        self.pushed.append(self.exposition())
        return Pushed(ok=True, message=f"pushed to {url}")


def test_counters_are_pushed_at_zero_and_again_after_a_retrain(tmp_path: Path, store: FakeStore) -> None:
    metrics = RecordingMetrics()
    times = [HOUR, 2 * HOUR]
    windows = {t: logs(400, shift=0.5, seed=int(t)) for t in times}
    job = make_job(tmp_path, store, windows, runner=FakeRunner(), metrics=metrics,
                   pushgateway_url="http://pushgateway", wait_timeout=60.0)

    outcomes = [run_drift_job(job, deployment=deployment(), now=t) for t in times]

    assert [o.decision.fire for o in outcomes if o.decision] == [False, True]
    first, before_retrain, after_retrain = metrics.pushed
    for zero in ('kubeloop_retrains_total{deployment="iris",reason="drift"} 0.0',
                 'kubeloop_pipeline_runs_total{pipeline="training",state="submitted"} 0.0'):
        assert zero in first and zero in before_retrain
    assert 'kubeloop_retrains_total{deployment="iris",reason="drift"} 1.0' in after_retrain
    assert 'kubeloop_pipeline_runs_total{pipeline="training",state="succeeded"} 1.0' in after_retrain


class SlowRunner(FakeRunner):
    """A run that is still running for the first `busy` looks, then registers version 2."""

    def __init__(self, busy: int) -> None:
        super().__init__()
        self.busy = busy
        self.looks = 0

    def status(self, run: PipelineRun) -> RunStatus:
        self.looks += 1
        if self.looks <= self.busy:
            return RunStatus(state="running", message="running train")
        return RunStatus(state="succeeded", outputs={"model_version": "2"})

    def wait(self, run: PipelineRun, *, timeout: float) -> RunStatus:
        raise AssertionError("a check without --wait never blocks on the run")


def test_a_started_run_is_followed_on_later_checks_even_by_a_restarted_job(
    tmp_path: Path, store: FakeStore
) -> None:
    times = [HOUR, 2 * HOUR, 3 * HOUR, 4 * HOUR]
    windows = {t: logs(400, shift=0.5, seed=int(t)) for t in times}
    runner, rollouts = SlowRunner(busy=2), []
    start = lambda v: rollouts.append(v) or f"rollout of v{v} started"  # noqa: E731
    first = make_job(tmp_path, store, windows, runner=runner, start_rollout=start)

    fired = [run_drift_job(first, deployment=deployment(), now=t) for t in times[:2]]
    rolled_out_before_restart = list(rollouts)
    restarted = make_job(tmp_path, store, windows, runner=runner, start_rollout=start)  # a new process
    later = [run_drift_job(restarted, deployment=deployment(), now=t) for t in times[2:]]

    assert [o.decision.fire for o in fired] == [False, True]
    assert fired[1].trail is not None and fired[1].trail.run_state == "running"
    assert rolled_out_before_restart == []
    assert later[0].trail is not None and later[0].trail.run_state == "running"
    assert later[1].trail is not None and later[1].trail.model_version == "2" and rollouts == ["2"]
    assert runner.submitted == [("training", {"model_name": "iris"})]  # followed, never submitted again
    saved = load_state(state_path(tmp_path, "iris")).trail
    assert len(saved) == 1 and saved[0].run_state == "succeeded"
    assert saved[0].rollout == "rollout of v2 started" and store.trails["2"]["run_id"] == "run-1"
    succeeded = 'kubeloop_pipeline_runs_total{pipeline="training",state="succeeded"} 1.0'
    assert succeeded in restarted.metrics.exposition()


def test_checking_without_retraining_says_it_would_retrain(tmp_path: Path, store: FakeStore) -> None:
    runner = FakeRunner()
    job = make_job(tmp_path, store, {t: logs(400, shift=0.5) for t in (HOUR, 2 * HOUR)}, runner=runner)

    outcomes = [run_drift_job(job, deployment=deployment(), now=t, retrain=False) for t in (HOUR, 2 * HOUR)]

    assert outcomes[1].decision is not None and not outcomes[1].decision.fire
    assert outcomes[1].decision.reason.startswith("would retrain (2 consecutive drifted checks")
    assert runner.submitted == []


def quality_deployment(**drift: object) -> ModelDeployment:
    settings = {"quality": {"metric": "accuracy", "maxDrop": 0.1, "minLabels": 100}, "trainOn": "labeled",
                "labeled": {"minRows": 50, "window": "2h"}}
    return deployment(**{**settings, **drift})


def test_a_quality_drop_retrains_on_the_labeled_window_and_the_trail_names_it(
    tmp_path: Path, store: FakeStore
) -> None:
    store.offline = {"1": {"accuracy": 0.97, "f1": 0.96, "roc_auc": 0.99}}
    labels, runner = FakeLabels(labeled_window(300, accuracy=0.6, at=HOUR)), FakeRunner()
    job = make_job(tmp_path, store, {HOUR: logs(400)}, runner=runner, labels=labels, wait_timeout=60.0)

    outcome = run_drift_job(job, deployment=quality_deployment(), now=HOUR)

    assert outcome.result.status == "no_drift"  # the inputs did not move; the answers got worse
    assert outcome.quality is not None and outcome.quality.offline == 0.97 and outcome.quality.labels == 300
    assert outcome.decision is not None and outcome.decision.fire and outcome.decision.trigger == "quality"
    assert labels.reads == [("iris", -HOUR, HOUR)]  # the longer window (labeled training: 2h) read once
    (pipeline, params), = runner.submitted
    assert params == {"model_name": "iris", "train_on": "labeled", "labels_from": "iris",
                      "labels_window": f"{-HOUR!r}..{HOUR!r}", "labeled_share": 0.5}
    trail = outcome.trail
    assert trail is not None and trail.model_version == "2" and trail.trigger == "quality"
    assert (trail.train_on, trail.labels_since, trail.labels_until, trail.labeled_rows) == (
        "labeled", -HOUR, HOUR, 300)
    assert store.trails["2"]["labels_since"] == -HOUR and "300 labeled answers" in trail.trained_on()
    assert load_state(state_path(tmp_path, "iris")).history[-1].quality == outcome.quality
    assert 'kubeloop_retrains_total{deployment="iris",reason="quality"} 1.0' in job.metrics.exposition()
    gauges = job.quality_metrics.registry
    assert gauges.get_sample_value("kubeloop_quality_offline", {"deployment": "iris", "model": "iris",
                                                               "version": "1", "metric": "macro-f1"}) == 0.96
    value = gauges.get_sample_value("kubeloop_quality_value", {"deployment": "iris", "model": "iris",
                                    "version": "1", "role": "champion", "metric": "accuracy", "class": ""})
    assert value == pytest.approx(outcome.quality.value) and 0.5 < value < 0.7


def test_too_few_labeled_answers_hold_a_retrain_on_production_data(tmp_path: Path, store: FakeStore) -> None:
    store.offline = {"1": {"accuracy": 0.97}}
    labels, runner = FakeLabels(labeled_window(120, accuracy=0.5, at=HOUR)), FakeRunner()
    job = make_job(tmp_path, store, {HOUR: logs(400)}, runner=runner, labels=labels)

    outcome = run_drift_job(job, deployment=quality_deployment(labeled={"minRows": 500}), now=HOUR)

    assert runner.submitted == [] and outcome.decision is not None and not outcome.decision.fire
    assert outcome.decision.reason.endswith(
        "but not started: trainOn labeled: 120 labeled answers in the last 3600s, fewer than the 500 of "
        "labeled.minRows")


def test_unreadable_labels_leave_the_drift_verdict_and_say_why(tmp_path: Path, store: FakeStore) -> None:
    job = make_job(tmp_path, store, {HOUR: logs(400, shift=0.5)}, labels=FakeLabels(fail=True))

    outcome = run_drift_job(job, deployment=quality_deployment(), now=HOUR)

    assert outcome.result.status == "drift" and outcome.quality is None
    assert "could not read labels: OSError: label database is locked" in outcome.messages


def test_a_deployment_without_labels_never_has_its_logs_read_for_quality(
    tmp_path: Path, store: FakeStore
) -> None:
    labels = FakeLabels()
    job = make_job(tmp_path, store, {HOUR: logs(400)}, labels=labels)

    outcome = run_drift_job(job, deployment=quality_deployment(), now=HOUR)

    assert labels.reads == [] and outcome.quality is None
    assert outcome.decision is not None
    assert "no labeled answers of version 1 in the window" in outcome.decision.reason
