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
from kubeloop.drift.metrics import DriftMetrics, PushOutcome
from kubeloop.drift.policy import RetrainDecision, WindowOutcome, decide_retrain
from kubeloop.drift.report import build_html_report
from kubeloop.drift.results import DriftResult, undecided
from kubeloop.drift.retrain import start_retrain
from kubeloop.drift.state import TrailEntry, load_state, save_state, state_path
from kubeloop.drift.store import DriftStore, ReferenceMissing
from kubeloop.errors import KubeloopError
from kubeloop.pipelines.base import PipelineRunner
from kubeloop.predlog.schema import INPUT_PREFIX, PREDICTION
from kubeloop.spec import ModelDeployment

# (deployment, version, since, until) -> the logged rows, as kubeloop.predlog.read_predictions returns them.
LogReader = Callable[[str, str, float, float], pd.DataFrame]
RolloutStarter = Callable[[str], str]


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
    wait_timeout: float = 0.0
    # Evidently's HTML report costs seconds per check; a controller checking often may turn it off.
    html_reports: bool = True


@dataclass(frozen=True, kw_only=True)
class JobOutcome:
    """Everything one run of the job did, for the CLI summary and the controller's status."""

    deployment: str
    model: str
    version: str | None
    window: float
    result: DriftResult
    report: str | None = None
    push: PushOutcome | None = None
    decision: RetrainDecision | None = None
    trail: TrailEntry | None = None
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
    """One drift check of a deployment's serving version, then the retrain policy."""
    now = time.time() if now is None else now
    spec = deployment.spec.drift
    window = spec.window if window is None else window
    messages: list[str] = []
    version, result, uri = _check(job, deployment, now, window, messages)
    model = deployment.spec.model.name
    job.metrics.record(deployment=deployment.name, model=model, version=version or "", result=result, now=now)
    job.metrics.declare(deployment=deployment.name, pipeline=spec.pipeline)
    push = (
        job.metrics.push(url=job.pushgateway_url, deployment=deployment.name) if job.pushgateway_url else None
    )
    if push and not push.ok:
        messages.append(push.message)
    outcome = JobOutcome(
        deployment=deployment.name,
        model=model,
        version=version,
        window=window,
        result=result,
        report=uri,
        push=push,
        messages=tuple(messages),
    )
    if version is None:
        return outcome
    path = state_path(job.state_dir, deployment.name)
    try:
        state = load_state(path)
    except ValueError as error:
        return replace(outcome, messages=(*outcome.messages, str(error)))
    state = state.with_outcome(
        WindowOutcome(at=now, version=version, status=result.status, drift_share=result.drift_share)
    )
    decision = decide_retrain(
        spec=spec, history=state.history, version=version, last_retrain_at=state.last_retrain_at, now=now
    )
    trail = None
    if decision.fire and retrain:
        state, trail, extra = start_retrain(
            job,
            deployment=deployment,
            version=version,
            report=uri or "",
            decision=decision,
            state=state,
            now=now,
        )
        messages += extra
        if trail is None:
            decision = RetrainDecision(
                fire=False, reason=f"retrain due ({decision.reason}) but not started: " + "; ".join(extra)
            )
    elif decision.fire:
        decision = RetrainDecision(
            fire=False, reason=f"would retrain ({decision.reason}), but retraining is off"
        )
    try:
        save_state(path, state)
    except OSError as error:
        messages.append(f"could not save the drift state {path}: {error}")
    if trail is not None and job.pushgateway_url:  # the retrain and run counts, pushed after the verdict
        push = job.metrics.push(url=job.pushgateway_url, deployment=deployment.name)
        if not push.ok and push.message not in messages:
            messages.append(push.message)
    return replace(outcome, push=push, decision=decision, trail=trail, messages=tuple(messages))
