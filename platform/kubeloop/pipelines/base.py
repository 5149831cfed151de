"""The PipelineRunner interface: submit a named pipeline with parameters, follow it to the end."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

RunState = Literal["pending", "running", "succeeded", "failed"]
# Every task of a run sees its run id here; kubeloop's components tag the MLflow runs they touch with it.
PIPELINE_RUN_ENV = "KUBELOOP_PIPELINE_RUN"
# "1" in a task the local runner forked from its warm interpreter (kubeloop.pipelines.warm).
IN_WARM_TASK_ENV = "KUBELOOP_WARM_TASK"
# Set to the run's registry too, so a user's own component that logs with plain MLflow lands there.
MLFLOW_TRACKING_ENV = "MLFLOW_TRACKING_URI"


@dataclass(frozen=True, kw_only=True)
class PipelineRun:
    """A submitted run: its id on the backend and what it was asked to do."""

    run_id: str
    pipeline: str
    params: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""  # what its tasks tag MLflow runs with (PIPELINE_RUN_ENV), when it is not run_id


@dataclass(frozen=True, kw_only=True)
class RunStatus:
    """Where a run is; outputs are filled when it has finished (for training: the registered version)."""

    state: RunState
    message: str = ""
    outputs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        """True once the run succeeded or failed."""
        return self.state in ("succeeded", "failed")


class PipelineRunner(Protocol):
    """One implementation per orchestrator; the controller's retrain policy only sees this."""

    def submit(self, pipeline: str, params: Mapping[str, Any]) -> PipelineRun:
        """Start the pipeline with the given parameters and return at once."""

    def status(self, run: PipelineRun) -> RunStatus:
        """Where the run is now."""

    def wait(self, run: PipelineRun, *, timeout: float) -> RunStatus:
        """Block until the run finishes or `timeout` seconds pass (then state is still running)."""
