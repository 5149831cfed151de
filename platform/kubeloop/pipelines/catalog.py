"""The pipelines kubeloop knows: where each is defined, how its parameters are checked, how it reports."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kubeloop.errors import NotFoundError
from kubeloop.settings import Settings


@dataclass(frozen=True, kw_only=True)
class PipelineDef:
    """A named pipeline: its KFP function, a pre-flight that turns user params into arguments, a reporter."""

    name: str
    description: str
    function: str  # "module:attribute" of the @dsl.pipeline function
    prepare: Callable[[Mapping[str, Any], Settings, str], dict[str, Any]]
    report: Callable[[Mapping[str, Any], Settings], dict[str, Any]]

    def load(self) -> Any:
        """Import the pipeline function (imports kfp, so only when needed)."""
        module, _, attribute = self.function.partition(":")
        return getattr(importlib.import_module(module), attribute)


def _prepare_training(params: Mapping[str, Any], settings: Settings, run_id: str) -> dict[str, Any]:
    """Check everything that can be checked before a task starts: params, data, schema, registry."""
    from kubeloop.registry.mlflow_registry import check_reachable
    from kubeloop.training.config import TrainingConfig
    from kubeloop.training.data import default_dataset, load_table
    from kubeloop.training.tracking import ensure_experiment
    from kubeloop.training.validation import validate_frame

    config = TrainingConfig.from_params(params)
    data = config.data or str(default_dataset(settings.home))
    validate_frame(load_table(data), target=config.target, task=config.task, min_rows=config.min_rows)
    check_reachable(settings.tracking_uri)
    artifact_root = settings.artifact_root
    ensure_experiment(settings.tracking_uri, config.experiment, artifact_root=artifact_root)
    return {
        **config.as_params(),
        "data": data,
        "tracking_uri": settings.tracking_uri,
        "artifact_root": artifact_root,
        "pipeline_run": run_id,
    }


def _report_training(arguments: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """The gate verdict and registered version, read back from the MLflow run the pipeline recorded."""
    from kubeloop.training.config import TrainingConfig
    from kubeloop.training.outcome import find_outcome

    names = {k: v for k, v in arguments.items() if k not in ("tracking_uri", "artifact_root", "pipeline_run")}
    outcome = find_outcome(
        tracking_uri=str(arguments["tracking_uri"]),
        config=TrainingConfig(**names),
        pipeline_run=str(arguments["pipeline_run"]),
    )
    return {} if outcome is None else outcome.as_dict()


PIPELINES: dict[str, PipelineDef] = {
    "training": PipelineDef(
        name="training",
        description="load -> validate -> train -> evaluate -> register (only when the quality gate passes)",
        function="kubeloop.components.training:training_pipeline",
        prepare=_prepare_training,
        report=_report_training,
    ),
}


def get_pipeline(name: str) -> PipelineDef:
    """A pipeline by name; NotFoundError lists the known ones."""
    try:
        return PIPELINES[name]
    except KeyError:
        raise NotFoundError(f"unknown pipeline {name!r}; known: {', '.join(PIPELINES)}") from None
