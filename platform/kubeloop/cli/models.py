"""`kubeloop models list|show|register`: registered models, their versions, aliases and kubeloop tags;
adopting a model logged elsewhere (a notebook, another tool)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from kubeloop.cli.output import console, print_json, print_table
from kubeloop.registry.names import (
    TAG_ARTIFACT_SHA256,
    TAG_ESTIMATOR,
    TAG_GATE_METRIC,
    TAG_GATE_REASON,
    TAG_GATE_VALUE,
    TAG_ROLLOUT_OUTCOME,
)

models_app = typer.Typer(help="Registered models in the MLflow registry.", no_args_is_help=True)


@models_app.command("list")
def list_command(
    output_json: Annotated[bool, typer.Option("--json", help="Print the models as JSON.")] = False,
) -> None:
    """List registered models with their aliases and newest version."""
    from kubeloop.registry.mlflow_registry import MlflowRegistry
    from kubeloop.settings import load_settings

    models = MlflowRegistry.from_settings(load_settings()).list_models()
    if output_json:
        print_json([asdict(m) for m in models])
        return
    if not models:
        console.print("no registered models yet: run `kubeloop pipeline run training`", highlight=False)
        return
    rows = [
        (m.name, m.latest_version or "-", ", ".join(f"{a}=v{v}" for a, v in sorted(m.aliases.items())) or "-")
        for m in models
    ]
    print_table("Registered models", ("model", "latest", "aliases"), rows)


@models_app.command("show")
def show_command(
    name: Annotated[str, typer.Argument(help="The registered model name.")],
    version: Annotated[
        str | None, typer.Option("--version", "-v", help="One version: a number or an alias (champion).")
    ] = None,
    output_json: Annotated[bool, typer.Option("--json", help="Print the versions as JSON.")] = False,
) -> None:
    """Show a model's versions with aliases, gate results, estimator and artifact digest."""
    from kubeloop.registry.mlflow_registry import MlflowRegistry
    from kubeloop.settings import load_settings

    registry = MlflowRegistry.from_settings(load_settings())
    model = registry.get_model(name)
    versions = [registry.resolve(version, name=name)] if version else registry.list_versions(name)
    if output_json:
        print_json({"model": asdict(model), "versions": [{**asdict(v), "uri": v.uri} for v in versions]})
        return
    rows = [
        (
            v.version,
            ", ".join(v.aliases) or "-",
            v.tags.get(TAG_ESTIMATOR, "-"),
            f"{v.tags.get(TAG_GATE_METRIC, '')} {v.tags.get(TAG_GATE_VALUE, '')}".strip() or "-",
            v.tags.get(TAG_ROLLOUT_OUTCOME, "-"),
            v.tags.get(TAG_ARTIFACT_SHA256, "")[:12] or "-",
            v.run_id or "-",
        )
        for v in versions
    ]
    print_table(name, ("version", "aliases", "estimator", "gate", "rollout", "sha256", "run"), rows)
    if version and versions:
        console.print(f"gate: {versions[0].tags.get(TAG_GATE_REASON, '-')}", highlight=False)


@models_app.command("register")
def register_command(
    model_uri: Annotated[
        str, typer.Option("--model-uri", help="The logged model: runs:/<run>/<path> or models:/m-<id>.")
    ],
    name: Annotated[str, typer.Option("--name", help="The registered model name.")],
    reference: Annotated[
        str | None,
        typer.Option(
            help="CSV or Parquet of training inputs for drift (default: the model's input example)."
        ),
    ] = None,
    alias: Annotated[
        str,
        typer.Option(help="champion or challenger (default: champion for a first version, else challenger)."),
    ] = "",
    output_json: Annotated[bool, typer.Option("--json", help="Print the registration as JSON.")] = False,
) -> None:
    """Register (adopt) an MLflow model of any flavour: digest, drift reference and lineage tags, an alias."""
    from kubeloop.registry.mlflow_registry import MlflowRegistry
    from kubeloop.settings import load_settings
    from kubeloop.training.registration import register_model

    settings = load_settings()
    MlflowRegistry.from_settings(settings)  # one line, before any work, when the registry does not answer
    registration = register_model(
        tracking_uri=settings.tracking_uri,
        model_uri=model_uri,
        name=name,
        reference=reference,
        alias=alias,
        artifact_root=settings.artifact_root,
    )
    if output_json:
        print_json(registration.as_dict())
        return
    console.print(
        f"[green]registered[/] {name} version {registration.version} as {registration.alias} "
        f"({registration.flavor}, sha256 {registration.digest[:12]})\n"
        f"  drift reference: {registration.reference}",
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    """Add the `models` command group."""
    app.add_typer(models_app, name="models")
