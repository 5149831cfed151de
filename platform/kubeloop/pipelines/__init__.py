"""Pipeline runners and the Python API: run, submit, compile and list kubeloop pipelines.

    import kubeloop.pipelines as pipelines
    status = pipelines.run("training", {"estimator": "random_forest"})   # blocks; RunStatus
    status.outputs["version"], status.outputs["reason"]
    pipelines.run("my_pipeline.py:train", {"model_name": "wine"})        # a user's own pipeline
    run = pipelines.submit("training", {})                                # returns at once
    pipelines.compile("pkg.pipelines:train", "train.yaml")                # KFP IR YAML

A pipeline is a built-in name, a name from the project's `kubeloop.yaml`, a `file.py[:function]`
or a `package.module:function` (`kubeloop.pipelines.catalog`). Runs go through the local runner
(kfp.local); the KFP API and Argo runners implement the same `PipelineRunner` interface
(`kubeloop.pipelines.base`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubeloop.pipelines.base import PipelineRun, RunStatus
from kubeloop.settings import Settings, load_settings

if TYPE_CHECKING:
    from kubeloop.pipelines.local import LocalPipelineRunner

__all__ = ["PipelineRun", "RunStatus", "compile", "list_pipelines", "run", "runner", "runner_for", "submit"]

DEFAULT_TIMEOUT_S = 1800.0


def runner(settings: Settings | None = None) -> LocalPipelineRunner:
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
    from kubeloop.pipelines.kfp_api import compile_to

    return compile_to(pipeline, Path(output))


def list_pipelines() -> list[tuple[str, str]]:
    """(name, description) of the built-in pipelines and those of the project config."""
    from kubeloop.pipelines.catalog import list_pipelines as catalog

    return [(p.name, p.description) for p in catalog()]


def runner_for(backend: str, *, host: str = "", namespace: str = "kubeloop", image: str = "") -> Any:
    """The PipelineRunner of a backend: `local` (kfp.local), `kfp` (a KFP API at host) or `argo`."""
    from kubeloop import __version__
    from kubeloop.errors import KubeloopError

    settings = load_settings()
    if backend == "local":
        return runner(settings)
    if not host:
        raise KubeloopError(f"--host: the {backend} backend needs the server's URL")
    if backend == "kfp":
        from kubeloop.pipelines.kfp_api import KfpPipelineRunner

        return KfpPipelineRunner.connect(host=host, tracking_uri=settings.tracking_uri)
    if backend == "argo":
        from kubeloop.pipelines.argo import ArgoPipelineRunner

        return ArgoPipelineRunner.connect(
            host=host,
            namespace=namespace,
            image=image or f"ghcr.io/kubeloop/kubeloop:{__version__}",
            tracking_uri=settings.tracking_uri,
        )
    raise KubeloopError(f"--backend: expected local, kfp or argo, got {backend!r}")
