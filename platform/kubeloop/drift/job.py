"""The drift job: read a window of logs, check it, store the report, export metrics, apply the policy.

Every failure of a backend becomes a result that says what went wrong; the job never raises into
the controller, and a check without a verdict never starts a retrain.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from kubeloop.drift.check import check_drift
from kubeloop.drift.metrics import TRIGGERS, DriftMetrics
from kubeloop.drift.policy import (
    QualityReading,
    RetrainDecision,
    RetrainInputs,
    WindowOutcome,
    decide_retrain,
)
from kubeloop.drift.quality import Labeled, LabelSource, measure
from kubeloop.drift.report import build_html_report
from kubeloop.drift.results import DriftResult, undecided
from kubeloop.drift.retrain import (
    RetrainPorts,
    RolloutStarter,
    as_run,
    follow_retrain,
    pending_run,
    plan_retrain,
    submit_retrain,
)
from kubeloop.drift.state import DriftState, TrailEntry, load_state, save_state, state_path
from kubeloop.drift.store import DriftStore, ReferenceMissing
from kubeloop.errors import KubeloopError
from kubeloop.pipelines.base import PipelineRunner
from kubeloop.predlog.schema import INPUT_PREFIX, PREDICTION
from kubeloop.quality.exporter import QualityMetrics
from kubeloop.spec import ModelDeployment
from kubeloop.telemetry.push import Pushed

# (deployment, version, since, until) -> the logged rows, as kubeloop.predlog.read_predictions returns them.
LogReader = Callable[[str, str, float, float], pd.DataFrame]
__all__ = ["DriftJob", "JobOutcome", "LogReader", "RolloutStarter", "run_drift_job", "window_frame"]


@dataclass(frozen=True, kw_only=True)
class DriftJob:
    """What a drift job talks to; each piece is replaceable by a fake in tests."""

    store: DriftStore
    read_logs: LogReader
    state_dir: Path
    metrics: DriftMetrics = field(default_factory=DriftMetrics)
    runner: PipelineRunner | None = None
    pushgateway_url: str | None = None
    start_rollout: RolloutStarter | None = None
    # Seconds to wait on a started or pending training run before returning (`drift check --wait`);
    # at 0 the run is looked at once and followed again on the next check.
    wait_timeout: float = 0.0
    # Evidently's HTML report costs seconds per check; a controller checking often may turn it off.
    html_reports: bool = True
    # Labels (None: this job reads none): the quality trigger's reading, the quality gauges, and the
    # labeled rows a retrain on production data trains on.
    labels: LabelSource | None = None
    quality_metrics: QualityMetrics = field(default_factory=QualityMetrics)


@dataclass(frozen=True, kw_only=True)
class JobOutcome:
    """Everything one run of the job did, for the CLI summary and the controller's status."""

    deployment: str
    model: str
    version: str | None
    window: float
    result: DriftResult
    report: str | None = None
    push: Pushed | None = None
    decision: RetrainDecision | None = None
    trail: TrailEntry | None = None
    quality: QualityReading | None = None
    messages: tuple[str, ...] = ()


def window_frame(logs: pd.DataFrame) -> pd.DataFrame:
    """The logged rows as the check wants them: successful answers, one column per feature + prediction."""
    if "status" in logs.columns:
        logs = logs[pd.to_numeric(logs["status"], errors="coerce").fillna(0) < 400]
    renames = {c: c[len(INPUT_PREFIX) :] for c in logs.columns if c.startswith(INPUT_PREFIX)}
    frame = logs[list(renames)].rename(columns=renames).reset_index(drop=True)
    if PREDICTION in logs.columns:
        frame[PREDICTION] = logs[PREDICTION].to_numpy()
    return frame


def _check(
    job: DriftJob, deployment: ModelDeployment, now: float, window: float, messages: list[str]
) -> tuple[str | None, DriftResult, str | None]:
    model, spec = deployment.spec.model, deployment.spec.drift
    try:
        version = model.version or job.store.champion(model.name)
    except KubeloopError as error:
        return None, undecided("failed", str(error), rows=0), None
    try:
        logs = job.read_logs(deployment.name, version, now - window, now)
        current = window_frame(logs)
        reference = job.store.load_reference(model.name, version)
    except ReferenceMissing as error:
        return version, undecided("no_reference", str(error), rows=0), None
    except Exception as error:  # noqa: BLE001 - a backend failure is reported, never raised
        return version, undecided("failed", f"{type(error).__name__}: {error}", rows=0), None
    try:
        result = check_drift(reference=reference, current=current, spec=spec)
    except Exception as error:  # noqa: BLE001 - e.g. logs whose values no test can read
        return version, undecided("failed", f"{type(error).__name__}: {error}", rows=len(current)), None
    html = None
    if result.decided and job.html_reports:
        try:
            page = build_html_report(
                reference=reference,
                current=current,
                result=result,
                title=f"{deployment.name}: {model.name} v{version}",
                max_rows=spec.report_max_rows,
            )
            html = page.html if page else None
        except Exception as error:  # noqa: BLE001 - the verdict stands without the HTML
            messages.append(f"Evidently report failed: {type(error).__name__}: {error}")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    try:
        uri = job.store.save_report(
            model=model.name,
            version=version,
            stamp=stamp,
            html=html,
            summary={
                "deployment": deployment.name,
                "window_seconds": window,
                "checked_at": now,
                **result.to_dict(),
            },
        )
    except Exception as error:  # noqa: BLE001
        messages.append(f"could not store the report: {type(error).__name__}: {error}")
        uri = None
    return version, result, uri


def run_drift_job(
    job: DriftJob,
    *,
    deployment: ModelDeployment,
    now: float | None = None,
    window: float | None = None,
    retrain: bool = True,
) -> JobOutcome:
    """One drift check of a deployment's serving version, then the retrain policy and the pending run."""
    now = time.time() if now is None else now
    window = deployment.spec.drift.window if window is None else window
    messages: list[str] = []
    version, result, uri = _check(job, deployment, now, window, messages)
    outcome = _recorded(job, deployment, version=version, result=result, report=uri, window=window, now=now,
                        messages=messages)
    if version is None:
        return outcome
    path = state_path(job.state_dir, deployment.name)
    try:
        state = load_state(path)
    except ValueError as error:
        return replace(outcome, messages=(*outcome.messages, str(error)))
    labeled = _labels(job, deployment, version=version, now=now, messages=messages)
    state = state.with_outcome(WindowOutcome(at=now, version=version, status=result.status,
                                             drift_share=result.drift_share, quality=labeled.reading))
    state, decision, started = _apply_policy(job, deployment, state, version=version, report=uri or "",
                                             now=now, retrain=retrain, labeled=labeled, messages=messages)
    state, trail = _follow(job, deployment, state, messages)
    try:
        save_state(path, state)
    except OSError as error:
        messages.append(f"could not save the drift state {path}: {error}")
    push = outcome.push
    if (started or trail) and job.pushgateway_url:  # the retrain and run counts, pushed after the verdict
        push = job.metrics.push(url=job.pushgateway_url, deployment=deployment.name)
        if not push.ok and push.message not in messages:
            messages.append(push.message)
    return replace(outcome, push=push, decision=decision, trail=trail or started, quality=labeled.reading,
                   messages=tuple(messages))


def _labels(
    job: DriftJob, deployment: ModelDeployment, *, version: str, now: float, messages: list[str]
) -> Labeled:
    """The window's labels measured and their gauges pushed (nothing when the job reads no labels)."""
    if job.labels is None:
        return Labeled()
    labeled = measure(job.labels, job.store, deployment, version=version, now=now,
                      metrics=job.quality_metrics)
    messages += labeled.messages
    if job.pushgateway_url and labeled.measured:
        pushed = job.quality_metrics.push(url=job.pushgateway_url, deployment=deployment.name)
        if not pushed.ok and pushed.message not in messages:
            messages.append(pushed.message)
    return labeled


def _recorded(
    job: DriftJob,
    deployment: ModelDeployment,
    *,
    version: str | None,
    result: DriftResult,
    report: str | None,
    window: float,
    now: float,
    messages: list[str],
) -> JobOutcome:
    """The check's metrics recorded (and pushed), as the outcome so far."""
    model = deployment.spec.model.name
    job.metrics.record(deployment=deployment.name, model=model, version=version or "", result=result, now=now)
    spec = deployment.spec.drift
    triggers = TRIGGERS if spec.quality is not None else TRIGGERS[:1]
    job.metrics.declare(deployment=deployment.name, pipeline=spec.pipeline, triggers=triggers)
    push = None
    if job.pushgateway_url:
        push = job.metrics.push(url=job.pushgateway_url, deployment=deployment.name)
    if push and not push.ok:
        messages.append(push.message)
    return JobOutcome(deployment=deployment.name, model=model, version=version, window=window, result=result,
                      report=report, push=push, messages=tuple(messages))


def _ports(job: DriftJob) -> RetrainPorts | None:
    if job.runner is None:
        return None
    return RetrainPorts(
        runner=job.runner, tags=job.store, counts=job.metrics, start_rollout=job.start_rollout
    )


def _apply_policy(
    job: DriftJob,
    deployment: ModelDeployment,
    state: DriftState,
    *,
    version: str,
    report: str,
    now: float,
    retrain: bool,
    labeled: Labeled,
    messages: list[str],
) -> tuple[DriftState, RetrainDecision, TrailEntry | None]:
    """Decide; when the policy fires, submit the pipeline. A refused submission is decided again with
    the refusal as a fact, so the policy says why nothing started, and no cooldown starts."""
    spec, model = deployment.spec.drift, deployment.spec.model.name
    ports = _ports(job)
    plan = plan_retrain(spec, deployment=deployment.name, model=model, now=now, runner=ports is not None,
                        count=labeled.labeled_inputs)
    inputs = RetrainInputs(history=state.history, version=version, last_retrain_at=state.last_retrain_at,
                           now=now, retraining=retrain, blocked=plan.blocked)
    decision = decide_retrain(spec=spec, inputs=inputs)
    if not decision.fire or ports is None or plan.params is None:
        return state, decision, None
    start = plan.entry(spec=spec, at=now, source_version=version, report=report, reason=decision.reason,
                       trigger=decision.trigger)
    params = plan.params
    try:
        trail, notes = submit_retrain(
            ports, deployment=deployment.name, model=model, params=params, start=start
        )
    except Exception as error:  # noqa: BLE001 - not submitted: no cooldown starts, the next check retries
        refused = f"retrain due but the pipeline was not submitted: {error}"
        messages.append(refused)
        return state, decide_retrain(spec=spec, inputs=replace(inputs, blocked=refused)), None
    messages += notes
    return state.with_trail(trail, retrain=True), decision, trail


def _follow(
    job: DriftJob, deployment: ModelDeployment, state: DriftState, messages: list[str]
) -> tuple[DriftState, TrailEntry | None]:
    """Look at the pending training run (just started, or left by an earlier check) and record its news."""
    ports, trail = _ports(job), pending_run(state)
    if ports is None or trail is None:
        return state, None
    run = as_run(trail)
    try:
        waited = job.wait_timeout > 0
        status = ports.runner.wait(run, timeout=job.wait_timeout) if waited else ports.runner.status(run)
    except Exception as error:  # noqa: BLE001 - the run id stays in the state: the next check looks again
        messages.append(f"lost track of training run {run.run_id}: {type(error).__name__}: {error}")
        return state, None
    trail, notes = follow_retrain(ports, trail=trail, status=status, model=deployment.spec.model.name,
                                  auto_rollout=deployment.spec.drift.auto_rollout)
    messages += notes
    return state.with_trail(trail), trail
