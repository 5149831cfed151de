"""PipelineRunner on a Kubeflow Pipelines API: compile to KFP IR, submit with `kfp.Client`, poll, outputs.

The pipeline is the same KFP definition the local runner runs (`kubeloop.pipelines.catalog`); here
it is compiled to IR YAML and created as a run in an experiment. Outputs of a finished training run
(the registered version, the gate's verdict) are read back from MLflow like the local runner does.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kubeloop.errors import BackendUnavailable, NotFoundError
from kubeloop.pipelines.base import PipelineRun, RunState, RunStatus
from kubeloop.pipelines.catalog import get_pipeline
from kubeloop.settings import load_settings

# KFP v2beta1 run states -> ours (unknown states read as running until they settle).
_STATES: dict[str, RunState] = {
    "PENDING": "pending",
    "RUNNING": "running",
    "PAUSED": "running",
    "CANCELING": "running",
    "SUCCEEDED": "succeeded",
    "SKIPPED": "succeeded",
    "FAILED": "failed",
    "CANCELED": "failed",
    "RUNTIME_STATE_UNSPECIFIED": "pending",
}
Report = Callable[[str, Mapping[str, Any]], Mapping[str, Any]]


def compile_ir(pipeline: str, folder: Path) -> Path:
    """The pipeline compiled to KFP IR YAML in `folder`."""
    from kfp import compiler

    path = folder / f"{pipeline}.yaml"
    compiler.Compiler().compile(get_pipeline(pipeline).load(), str(path))
    return path


def _catalog_report(pipeline: str, arguments: Mapping[str, Any]) -> Mapping[str, Any]:
    """What the catalog's reporter finds for a finished run (for training: the MLflow outcome)."""
    return get_pipeline(pipeline).report(arguments, load_settings())


class KfpPipelineRunner:
    """Submits kubeloop pipelines to a KFP API server through `kfp.Client`."""

    def __init__(
        self,
        *,
        client: Any,
        experiment: str = "kubeloop",
        tracking_uri: str,
        poll: float = 5.0,
        report: Report = _catalog_report,
    ) -> None:
        self.client, self.experiment, self.tracking_uri = client, experiment, tracking_uri
        self.poll, self.report = poll, report

    @classmethod
    def connect(cls, *, host: str, tracking_uri: str, **kwargs: Any) -> KfpPipelineRunner:
        """A runner on the KFP API at `host` (for example http://ml-pipeline.kubeflow:8888)."""
        import kfp

        return cls(client=kfp.Client(host=host), tracking_uri=tracking_uri, **kwargs)

    def submit(self, pipeline: str, params: Mapping[str, Any]) -> PipelineRun:
        """Compile, then create a run in the experiment; arguments carry the tracking server and run name."""
        run_name = f"{pipeline}-{time.strftime('%Y%m%d-%H%M%S')}"
        arguments = {"tracking_uri": self.tracking_uri, "pipeline_run": run_name, **params}
        with tempfile.TemporaryDirectory(prefix="kubeloop-kfp-") as folder:
            package = compile_ir(pipeline, Path(folder))
            try:
                result = self.client.create_run_from_pipeline_package(
                    str(package), arguments=arguments, run_name=run_name, experiment_name=self.experiment
                )
            except Exception as error:  # noqa: BLE001 - kfp_server_api raises its own ApiException
                raise BackendUnavailable(f"KFP API refused the run: {_short(error)}") from None
        return PipelineRun(run_id=result.run_id, pipeline=pipeline, params=arguments)

    def status(self, run: PipelineRun) -> RunStatus:
        """The run's state; outputs once it succeeded."""
        try:
            found = self.client.get_run(run.run_id)
        except Exception as error:  # noqa: BLE001
            if getattr(error, "status", None) == 404:
                raise NotFoundError(f"KFP has no run {run.run_id!r}") from None
            raise BackendUnavailable(f"KFP API: {_short(error)}") from None
        state = _STATES.get(str(found.state), "running")
        message = str(found.error.message) if getattr(found, "error", None) else ""
        outputs = self.report(run.pipeline, run.params) if state == "succeeded" else {}
        return RunStatus(state=state, message=message, outputs=outputs)

    def wait(self, run: PipelineRun, *, timeout: float) -> RunStatus:
        """Poll until the run finishes or `timeout` seconds pass."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(run)
            if status.finished or time.monotonic() >= deadline:
                return status
            time.sleep(min(self.poll, max(0.0, deadline - time.monotonic())))


def _short(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
