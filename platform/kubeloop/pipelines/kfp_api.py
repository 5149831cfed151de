"""PipelineRunner on a Kubeflow Pipelines API: compile to KFP IR, submit with `kfp.Client`, poll, outputs.

The pipeline is the same KFP definition the local runner runs (`kubeloop.pipelines.catalog`: a
built-in, a project pipeline or a user's file); here it is compiled to IR YAML and created as a run
in an experiment. Each task's container gets the tracking server and the run's label as
environment variables in the IR (what `task.set_env_variable` compiles to), so a user's pipeline
needs no parameter for them. Outputs of a finished run (the registered version, the gate's verdict)
are read back from MLflow like the local runner does.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kubeloop.errors import BackendUnavailable, NotFoundError
from kubeloop.pipelines.base import MLFLOW_TRACKING_ENV, PIPELINE_RUN_ENV, PipelineRun, RunState, RunStatus
from kubeloop.pipelines.catalog import get_pipeline
from kubeloop.settings import TRACKING_ENV, load_settings

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
Report = Callable[[str, str], Mapping[str, Any]]  # (pipeline, run label) -> outputs


def compile_to(pipeline: str, path: Path, *, env: Mapping[str, str] | None = None) -> Path:
    """The pipeline compiled to KFP IR YAML at `path`, with `env` set in every task's container."""
    import yaml
    from kfp import compiler

    path.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(get_pipeline(pipeline).load(), str(path))
    if env:
        spec = yaml.safe_load(path.read_text())
        for executor in spec["deploymentSpec"]["executors"].values():
            container = executor.get("container")
            if container is not None:
                kept = [e for e in container.get("env", []) if e["name"] not in env]
                container["env"] = kept + [{"name": k, "value": v} for k, v in sorted(env.items())]
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def compile_ir(pipeline: str, folder: Path, *, env: Mapping[str, str] | None = None) -> Path:
    """The pipeline compiled to KFP IR YAML in `folder`."""
    return compile_to(pipeline, folder / f"{get_pipeline(pipeline).name}.yaml", env=env)


def _catalog_report(pipeline: str, label: str) -> Mapping[str, Any]:
    """What the catalog's reporter finds for a finished run (the gate verdict, the version)."""
    return get_pipeline(pipeline).report(label, load_settings())


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
        """Bind the parameters, compile with the registry and run name in the tasks' env, create a run."""
        definition = get_pipeline(pipeline)
        arguments = definition.bound(params)
        run_name = f"{definition.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        env = {
            TRACKING_ENV: self.tracking_uri,
            MLFLOW_TRACKING_ENV: self.tracking_uri,
            PIPELINE_RUN_ENV: run_name,
        }
        with tempfile.TemporaryDirectory(prefix="kubeloop-kfp-") as folder:
            package = compile_ir(pipeline, Path(folder), env=env)
            try:
                result = self.client.create_run_from_pipeline_package(
                    str(package), arguments=arguments, run_name=run_name, experiment_name=self.experiment
                )
            except Exception as error:  # noqa: BLE001 - kfp_server_api raises its own ApiException
                raise BackendUnavailable(f"KFP API refused the run: {_short(error)}") from None
        return PipelineRun(run_id=result.run_id, pipeline=pipeline, params=arguments, label=run_name)

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
        outputs = self.report(run.pipeline, run.label) if state == "succeeded" else {}
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
