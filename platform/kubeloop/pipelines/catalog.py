"""The pipelines kubeloop can run: built-in ones, those named in the project config, and any user's
`file.py[:function]` or `package.module:function`, each with its pre-flight and its reporter.

Every runner (kfp.local, the KFP API, Argo) and the drift job's retraining resolve a pipeline here,
so `drift.pipeline: my-pipeline` runs the user's own code through the same path as the CLI.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeloop.errors import NotFoundError, SpecError
from kubeloop.pipelines.project import Project, load_project
from kubeloop.pipelines.sources import PipelineSource, is_reference, load_pipeline, parse_reference
from kubeloop.settings import Settings

Bind = Callable[["PipelineDef", Mapping[str, Any]], dict[str, Any]]
Prepare = Callable[["PipelineDef", Mapping[str, Any], Settings], dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class PipelineDef:
    """A pipeline: its name, where its KFP function is, the defaults it is run with, its pre-flight."""

    name: str
    description: str
    source: PipelineSource
    bind: Bind
    prepare: Prepare
    defaults: Mapping[str, Any] = field(default_factory=dict)
    builtin: bool = False

    def load(self) -> Any:
        """Import the pipeline function (imports kfp and the user's file, so only when needed)."""
        return load_pipeline(self.source)

    def arguments(self, params: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
        """The run's arguments, after every check this machine can make before a task starts."""
        return self.prepare(self, params, settings)

    def bound(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The arguments typed by the pipeline's signature, without local checks (for a cluster's runner)."""
        return self.bind(self, params)

    def report(self, run_id: str, settings: Settings) -> dict[str, Any]:
        """What a finished run decided (gate verdict, registered version), read back from MLflow."""
        from kubeloop.training.outcome import find_outcome

        outcome = find_outcome(tracking_uri=settings.tracking_uri, pipeline_run=run_id)
        return {} if outcome is None else outcome.as_dict()


def _bind_user(definition: PipelineDef, params: Mapping[str, Any]) -> dict[str, Any]:
    """Import and compile the user's pipeline, then bind the parameters to its signature."""
    from kubeloop.pipelines.params import bind_params
    from kubeloop.pipelines.sources import check_compiles

    pipeline = definition.load()
    check_compiles(pipeline, ref=definition.source.ref)
    return bind_params(
        pipeline.component_spec.inputs, params, pipeline=definition.name, preset=definition.defaults
    )


def _prepare_user(definition: PipelineDef, params: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """The bound arguments, once the registry the components will use answers."""
    from kubeloop.registry.mlflow_registry import check_reachable

    arguments = _bind_user(definition, params)
    check_reachable(settings.tracking_uri)
    return arguments


def _bind_training(definition: PipelineDef, params: Mapping[str, Any]) -> dict[str, Any]:
    """The training parameters checked (names, types, estimator, gate) into the pipeline's arguments."""
    from kubeloop.training.config import TrainingConfig

    return TrainingConfig.from_params({**definition.defaults, **params}).as_params()


def _prepare_training(
    definition: PipelineDef, params: Mapping[str, Any], settings: Settings
) -> dict[str, Any]:
    """Check the parameters, the data (schema, target, rows) and the registry before a task starts."""
    from kubeloop.registry.mlflow_registry import check_reachable
    from kubeloop.training.data import default_dataset
    from kubeloop.training.steps import training_frame, with_weights
    from kubeloop.training.tracking import ensure_experiment
    from kubeloop.training.validation import validate_frame

    arguments = _bind_training(definition, params)
    labeled = arguments["train_on"] == "labeled"
    data = arguments["data"] or ("" if labeled else str(default_dataset(settings.home)))
    source = {key: arguments[key] for key in ("train_on", "labels_from", "labels_window", "labeled_share")}
    frame = with_weights(training_frame(data=data, target=arguments["target"], settings=settings, **source),
                         arguments["weight_column"])
    validate_frame(frame, target=arguments["target"], task=arguments["task"], min_rows=arguments["min_rows"])
    check_reachable(settings.tracking_uri)
    ensure_experiment(settings.tracking_uri, arguments["experiment"], artifact_root=settings.artifact_root)
    return {**arguments, "data": data}


BUILTINS: dict[str, PipelineDef] = {
    "training": PipelineDef(
        name="training",
        description="load -> validate -> train -> evaluate -> gate -> register (only when the gate passes)",
        source=PipelineSource(module="kubeloop.components.training", function="training_pipeline"),
        bind=_bind_training,
        prepare=_prepare_training,
        builtin=True,
    ),
}


def get_pipeline(ref: str, *, project: Project | None = None) -> PipelineDef:
    """A pipeline by built-in or project name, or `file.py[:fn]` / `pkg.mod:fn`; NotFoundError lists names."""
    if ref in BUILTINS:
        return BUILTINS[ref]
    project = load_project() if project is None else project
    _check_no_shadowing(project)
    registered = project.config.pipelines.get(ref)
    if registered is not None:
        source = parse_reference(registered.source, base=project.folder)
        return PipelineDef(
            name=ref,
            description=registered.description or source.ref,
            source=source,
            bind=_bind_user,
            prepare=_prepare_user,
            defaults=registered.params,
        )
    if is_reference(ref):
        source = parse_reference(ref)
        return PipelineDef(
            name=source.default_name,
            description=source.ref,
            source=source,
            bind=_bind_user,
            prepare=_prepare_user,
        )
    known = ", ".join([*BUILTINS, *project.config.pipelines])
    raise NotFoundError(f"unknown pipeline {ref!r}; known: {known} (or give path/to/file.py:function)")


def from_source(ref: str) -> PipelineDef:
    """The definition a runner's child process rebuilds from a recorded source reference."""
    for builtin in BUILTINS.values():
        if builtin.source.ref == ref:
            return builtin
    return get_pipeline(ref, project=Project())


def list_pipelines(project: Project | None = None) -> list[PipelineDef]:
    """The built-in pipelines, then the project's (their sources are not imported)."""
    project = load_project() if project is None else project
    _check_no_shadowing(project)
    return [*BUILTINS.values(), *(get_pipeline(name, project=project) for name in project.config.pipelines)]


def _check_no_shadowing(project: Project) -> None:
    if shadowing := sorted(set(project.config.pipelines) & set(BUILTINS)):
        raise SpecError(f"{project.path}: pipelines.{shadowing[0]}: the name of a built-in pipeline")
