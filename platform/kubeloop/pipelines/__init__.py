"""Pipeline runners and the Python API: run, submit, compile and list kubeloop pipelines.

    import kubeloop.pipelines as pipelines
    status = pipelines.run("training", {"estimator": "random_forest"})   # blocks; RunStatus
    status.outputs["version"], status.outputs["reason"]
    run = pipelines.submit("training", {})                                # returns at once
    pipelines.compile("training", "training.yaml")                        # KFP IR YAML

Runs go through the local runner (kfp.local); the KFP API and Argo runners implement the same
`PipelineRunner` interface (`kubeloop.pipelines.base`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kubeloop.pipelines.base import PipelineRun, RunStatus
from kubeloop.settings import Settings, load_settings

__all__ = ["PipelineRun", "RunStatus", "compile", "list_pipelines", "run", "runner", "submit"]

DEFAULT_TIMEOUT_S = 1800.0


def runner(settings: Settings | None = None) -> Any:
    """The local (kfp.local) runner for these settings."""
    from kubeloop.pipelines.local import LocalPipelineRunner

    return LocalPipelineRunner(settings=(settings or load_settings()).ensure_dirs())


def submit(
    pipeline: str, params: Mapping[str, Any] | None = None, *, settings: Settings | None = None
) -> PipelineRun:
    """Check the parameters and start a run; bad input raises before anything starts."""
    return runner(settings).submit(pipeline, dict(params or {}))


def run(
    pipeline: str,
    params: Mapping[str, Any] | None = None,
    *,
    settings: Settings | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    on_progress: Callable[[RunStatus], None] | None = None,
) -> RunStatus:
    """Submit a run and wait for it; for `training` the outputs hold the verdict and the version."""
    local = runner(settings)
    started = local.submit(pipeline, dict(params or {}))
    return local.wait(started, timeout=timeout, on_progress=on_progress)


def compile(pipeline: str, output: str | Path) -> Path:  # noqa: A001 - the verb users know from KFP
    """Compile a pipeline to KFP IR YAML, ready for a Kubeflow Pipelines cluster."""
    from kfp import compiler

    from kubeloop.pipelines.catalog import get_pipeline

    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(get_pipeline(pipeline).load(), str(path))
    return path


def list_pipelines() -> list[tuple[str, str]]:
    """(name, description) of every pipeline kubeloop can run."""
    from kubeloop.pipelines.catalog import PIPELINES

    return [(p.name, p.description) for p in PIPELINES.values()]
