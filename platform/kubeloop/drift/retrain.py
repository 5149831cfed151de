"""Starting the training pipeline when the policy fires, and following it into the trail.

The trail is drift report -> pipeline run -> model version -> rollout; it is kept in the drift
state file and written as the `kubeloop.trail` tag on the drifted version and on the new one.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any

from kubeloop.drift.metrics import RETRAIN_REASON
from kubeloop.drift.policy import RetrainDecision
from kubeloop.drift.state import DriftState, TrailEntry
from kubeloop.spec import ModelDeployment

if TYPE_CHECKING:
    from kubeloop.drift.job import DriftJob

_GLOB_CHARS = ("*", "?", "[")
# Keys under which a training run reports the model version it registered.
VERSION_OUTPUTS = ("model_version", "version", "registered_version")
TRAINING_PIPELINE = "training"


class TrainingDataMissing(ValueError):
    """A training-data glob in the policy's parameters matches no file."""


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


def registered_version(outputs: Mapping[str, Any]) -> str | None:
    """The model version a finished training run registered, if it says so."""
    for key in VERSION_OUTPUTS:
        if outputs.get(key) not in (None, ""):
            return str(outputs[key])
    return None


def _tag(job: DriftJob, model: str, version: str, trail: TrailEntry, messages: list[str]) -> None:
    try:
        job.store.set_trail(model=model, version=version, trail=asdict(trail))
    except Exception as error:  # noqa: BLE001 - the trail stays in the state file
        messages.append(f"could not tag version {version} with the trail: {type(error).__name__}: {error}")


def _follow(job: DriftJob, deployment: ModelDeployment, trail: TrailEntry, messages: list[str]) -> TrailEntry:
    from kubeloop.pipelines.base import PipelineRun

    assert job.runner is not None and trail.run_id is not None
    run = PipelineRun(run_id=trail.run_id, pipeline=trail.pipeline)
    status = job.runner.wait(run, timeout=job.wait_timeout)
    trail = replace(trail, run_state=status.state, model_version=registered_version(status.outputs))
    if status.finished:
        job.metrics.count_pipeline_run(pipeline=trail.pipeline, state=status.state)
    if status.state == "failed":
        messages.append(f"training run {trail.run_id} failed: {status.message}")
    if trail.model_version is None:
        return trail
    if deployment.spec.drift.auto_rollout and job.start_rollout is not None:
        try:
            trail = replace(trail, rollout=job.start_rollout(trail.model_version))
        except Exception as error:  # noqa: BLE001 - the new version stays registered
            trail = replace(trail, rollout=f"not started: {error}")
            messages.append(f"rollout of version {trail.model_version} not started: {error}")
    return trail


def start_retrain(
    job: DriftJob,
    *,
    deployment: ModelDeployment,
    version: str,
    report: str,
    decision: RetrainDecision,
    state: DriftState,
    now: float,
) -> tuple[DriftState, TrailEntry | None, list[str]]:
    """Submit the training pipeline; returns the new state, the trail (None if nothing started), messages."""
    spec = deployment.spec.drift
    messages: list[str] = []
    if job.runner is None:
        return state, None, ["retrain due but no pipeline runner is configured"]
    try:
        params = resolve_params(spec.params)
        if spec.pipeline == TRAINING_PIPELINE:  # a retrain must register under the deployment's model
            params.setdefault("model_name", deployment.spec.model.name)
        run = job.runner.submit(spec.pipeline, params)
    except Exception as error:  # noqa: BLE001 - not submitted: no cooldown starts, the next check retries
        return state, None, [f"retrain due but the pipeline was not submitted: {error}"]
    trail = TrailEntry(
        at=now,
        source_version=version,
        report=report,
        reason=decision.reason,
        pipeline=spec.pipeline,
        run_id=run.run_id,
    )
    job.metrics.count_retrain(deployment=deployment.name, reason=RETRAIN_REASON)
    job.metrics.count_pipeline_run(pipeline=spec.pipeline, state="submitted")
    _tag(job, deployment.spec.model.name, version, trail, messages)
    if job.wait_timeout > 0:
        try:
            trail = _follow(job, deployment, trail, messages)
        except Exception as error:  # noqa: BLE001
            messages.append(f"lost track of training run {run.run_id}: {type(error).__name__}: {error}")
        for tagged in {version, trail.model_version} - {None}:  # both ends see the whole trail
            _tag(job, deployment.spec.model.name, str(tagged), trail, messages)
    return state.with_trail(trail, retrain=True), trail, messages
