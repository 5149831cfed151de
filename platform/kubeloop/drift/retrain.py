"""Starting the training pipeline when the policy fires, and following its run into the trail, tick by tick.

The trail is drift report -> pipeline run -> model version -> rollout; it is kept in the drift state
file and written as the `kubeloop.trail` tag on the drifted version and on the new one. Nothing here
waits on a run: `follow_retrain` applies whatever status the caller read, and the run id and state
stay in the drift state, so the next tick (or a restarted job) follows the same run.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

from kubeloop.drift.state import DriftState, TrailEntry
from kubeloop.pipelines.base import PipelineRun, PipelineRunner, RunStatus
from kubeloop.spec import DriftSpec
from kubeloop.training.labeled import LabeledWindow

_GLOB_CHARS = ("*", "?", "[")
# Keys under which a training run reports the model version it registered.
VERSION_OUTPUTS = ("model_version", "version", "registered_version")
TRAINING_PIPELINE = "training"
UNFINISHED = frozenset({"submitted", "pending", "running"})
RolloutStarter = Callable[[str], str]


class TrainingDataMissing(ValueError):
    """A training-data glob in the policy's parameters matches no file."""


class TrailTags(Protocol):
    """Where the trail is recorded on model versions (the registry)."""

    def set_trail(self, *, model: str, version: str, trail: Mapping[str, Any]) -> None:
        """Write the trail as a tag on one model version."""


class RetrainCounts(Protocol):
    """The retrain and pipeline-run counters (`kubeloop.drift.metrics.DriftMetrics`)."""

    def count_retrain(self, *, deployment: str, reason: str) -> None:
        """One retrain started."""

    def count_pipeline_run(self, *, pipeline: str, state: str) -> None:
        """One pipeline run submitted or finished in `state`."""


@dataclass(frozen=True, kw_only=True)
class RetrainPorts:
    """The four things retraining talks to, and nothing else of the drift job."""

    runner: PipelineRunner
    tags: TrailTags
    counts: RetrainCounts
    start_rollout: RolloutStarter | None = None


def resolve_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The pipeline parameters with each glob replaced by its newest matching file."""
    resolved = dict(params)
    for key, value in params.items():
        if isinstance(value, str) and any(c in value for c in _GLOB_CHARS):
            matches = glob.glob(os.path.expanduser(value))
            if not matches:
                raise TrainingDataMissing(f"training data {key}={value!r} matches no file")
            resolved[key] = max(matches, key=os.path.getmtime)
    return resolved


def labeled_window(spec: DriftSpec, *, deployment: str, now: float) -> LabeledWindow | None:
    """The labeled predictions a retrain trains on (trainOn labeled or both); None: the pipeline's data."""
    if spec.train_on == "reference":
        return None
    return LabeledWindow(deployment=deployment, since=now - spec.labeled_window(), until=now)


def pipeline_params(spec: DriftSpec, *, model: str, labeled: LabeledWindow | None = None) -> dict[str, Any]:
    """What the pipeline is given; a built-in training run registers under the deployment's model, and a
    retrain on labeled data names the window (the training pipeline's labeled-data parameters)."""
    params = resolve_params(spec.params)
    if spec.pipeline == TRAINING_PIPELINE:
        params.setdefault("model_name", model)
    if labeled is not None:
        params |= {"train_on": spec.train_on, "labels_from": labeled.deployment,
                   "labels_window": labeled.to_param(), "labeled_share": spec.labeled.share}
    return params


@dataclass(frozen=True, kw_only=True)
class RetrainPlan:
    """What a retrain would submit now (parameters, labeled window), or why it cannot start."""

    params: dict[str, Any] | None = None
    blocked: str | None = None
    window: LabeledWindow | None = None
    labeled_inputs: int | None = None

    def entry(self, *, spec: DriftSpec, at: float, source_version: str, report: str, reason: str,
              trigger: str) -> TrailEntry:
        """The trail entry of the retrain as it starts: what fired and what it trains on."""
        window = self.window
        return TrailEntry(at=at, source_version=source_version, report=report, reason=reason,
                          pipeline=spec.pipeline, trigger=trigger, train_on=spec.train_on,
                          labels_since=window.since if window else None,
                          labels_until=window.until if window else None, labeled_rows=self.labeled_inputs)


def plan_retrain(
    spec: DriftSpec, *, deployment: str, model: str, now: float, runner: bool, count: Callable[[float], int]
) -> RetrainPlan:
    """The parameters a retrain would get now; blocked without a runner, without its training data, or
    with fewer labeled inputs than `labeled.minRows` (`count(since)` counts those made since then)."""
    if not runner:
        return RetrainPlan(blocked="retrain due but no pipeline runner is configured")
    window = labeled_window(spec, deployment=deployment, now=now)
    found = count(window.since) if window is not None else None
    if found is not None and found < spec.labeled.min_rows:
        return RetrainPlan(window=window, labeled_inputs=found, blocked=(
            f"trainOn {spec.train_on}: {found} labeled answers in the last {spec.labeled_window():g}s, "
            f"fewer than the {spec.labeled.min_rows} of labeled.minRows"))
    try:
        params = pipeline_params(spec, model=model, labeled=window)
    except TrainingDataMissing as error:
        return RetrainPlan(blocked=f"retrain due but the pipeline was not submitted: {error}")
    return RetrainPlan(params=params, window=window, labeled_inputs=found)


def registered_version(outputs: Mapping[str, Any]) -> str | None:
    """The model version a finished training run registered, if it says so."""
    for key in VERSION_OUTPUTS:
        if outputs.get(key) not in (None, ""):
            return str(outputs[key])
    return None


def pending_run(state: DriftState) -> TrailEntry | None:
    """The latest retrain whose pipeline run has not finished yet, if any."""
    latest = state.trail[-1] if state.trail else None
    return latest if latest is not None and latest.run_id and latest.run_state in UNFINISHED else None


def as_run(trail: TrailEntry) -> PipelineRun:
    """The pipeline run a trail entry follows."""
    assert trail.run_id is not None
    return PipelineRun(run_id=trail.run_id, pipeline=trail.pipeline)


def submit_retrain(
    ports: RetrainPorts, *, deployment: str, model: str, params: Mapping[str, Any], start: TrailEntry
) -> tuple[TrailEntry, list[str]]:
    """Submit the pipeline (raises when the backend refuses); the trail entry with its run id."""
    run = ports.runner.submit(start.pipeline, params)
    trail = replace(start, run_id=run.run_id, run_state="submitted")
    ports.counts.count_retrain(deployment=deployment, reason=start.trigger)
    ports.counts.count_pipeline_run(pipeline=trail.pipeline, state="submitted")
    return trail, _tag(ports, model, trail.source_version, trail)


def follow_retrain(
    ports: RetrainPorts, *, trail: TrailEntry, status: RunStatus, model: str, auto_rollout: bool
) -> tuple[TrailEntry, list[str]]:
    """The trail entry after the run's latest status: the new version and its rollout once it finished."""
    trail = replace(trail, run_state=status.state, model_version=registered_version(status.outputs))
    if not status.finished:
        return trail, []
    ports.counts.count_pipeline_run(pipeline=trail.pipeline, state=status.state)
    messages = [f"training run {trail.run_id} failed: {status.message}"] if status.state == "failed" else []
    if trail.model_version is not None and auto_rollout and ports.start_rollout is not None:
        try:
            trail = replace(trail, rollout=ports.start_rollout(trail.model_version))
        except Exception as error:  # noqa: BLE001 - the new version stays registered
            trail = replace(trail, rollout=f"not started: {error}")
            messages.append(f"rollout of version {trail.model_version} not started: {error}")
    for version in dict.fromkeys([trail.source_version, trail.model_version]):  # both ends see the trail
        if version is not None:
            messages += _tag(ports, model, version, trail)
    return trail, messages


def _tag(ports: RetrainPorts, model: str, version: str, trail: TrailEntry) -> list[str]:
    try:
        ports.tags.set_trail(model=model, version=version, trail=asdict(trail))
    except Exception as error:  # noqa: BLE001 - the trail stays in the state file
        return [f"could not tag version {version} with the trail: {type(error).__name__}: {error}"]
    return []
