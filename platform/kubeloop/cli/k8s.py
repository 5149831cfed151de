"""`kubeloop k8s` and `kubeloop operator`: render what the operator creates, print the CRD, run it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from kubeloop.cli import k8s_rollout
from kubeloop.errors import SpecError

k8s_app = typer.Typer(help="Kubernetes mode: the ModelDeployment CRD and the objects the operator creates.")
operator_app = typer.Typer(help="The Kubernetes operator that reconciles ModelDeployments.")

ROUTERS = ("kserve", "istio", "gateway-api")


def _dump(objects: list[dict[str, Any]]) -> str:
    import yaml

    return yaml.safe_dump_all(objects, sort_keys=False, default_flow_style=False)


@k8s_app.command("render")
def render(
    path: Annotated[Path, typer.Argument(help="A ModelDeployment YAML file.")],
    router: Annotated[
        str | None, typer.Option("--router", help="Override spec.router: kserve, istio or gateway-api.")
    ] = None,
    phase: Annotated[
        str, typer.Option("--phase", help="stable, shadow, canary:N (percent) or promoted.")
    ] = "stable",
    champion: Annotated[str, typer.Option("--champion", help="The champion's model version.")] = "1",
    challenger: Annotated[str, typer.Option("--challenger", help="The challenger's model version.")] = "2",
    drift_engine: Annotated[
        str, typer.Option("--drift-engine", help="cronjob or argo (CronWorkflow).")
    ] = "cronjob",
) -> None:
    """Print every object the operator would create or patch for the file at that phase, as YAML."""
    from kubeloop.k8s.config import config_from_env
    from kubeloop.k8s.render import desired_objects, routes_for_phase
    from kubeloop.spec import load_deployment

    deployment = load_deployment(path)
    if router is not None:
        if router not in ROUTERS:
            raise SpecError(f"--router: expected one of {', '.join(ROUTERS)}, got {router!r}")
        deployment = deployment.model_copy(
            update={"spec": deployment.spec.model_copy(update={"router": router})}
        )
    if drift_engine not in ("cronjob", "argo"):
        raise SpecError(f"--drift-engine: expected cronjob or argo, got {drift_engine!r}")
    config = replace(config_from_env(), drift_engine=drift_engine)
    routes = routes_for_phase(deployment, phase, champion=champion, challenger=challenger)
    typer.echo(_dump(desired_objects(deployment, routes, config=config)), nl=False)


@k8s_app.command("crd")
def crd(
    peering: bool = typer.Option(False, "--peering", help="Also print kopf's peering CRD and object."),
) -> None:
    """Print the ModelDeployment CustomResourceDefinition (apiextensions.k8s.io/v1)."""
    from kubeloop.k8s.crd import build_crd, build_peering, build_peering_crd

    objects = [build_crd(), build_peering_crd(), build_peering()] if peering else [build_crd()]
    typer.echo(_dump(objects), nl=False)


@operator_app.command("run")
def run(
    namespace: str | None = typer.Option(None, "--namespace", help="Watch one namespace (default: all)."),
    priority: int | None = typer.Option(None, "--priority", help="Peering priority (default: random)."),
) -> None:
    """Run the operator in the foreground (in-cluster credentials, or the current kubeconfig)."""
    from kubeloop.k8s.operator import run as run_operator

    run_operator(namespace=namespace, priority=priority)


def register(app: typer.Typer) -> None:
    """Add `kubeloop k8s ...` and `kubeloop operator ...`."""
    k8s_rollout.register(k8s_app)
    app.add_typer(k8s_app, name="k8s")
    app.add_typer(operator_app, name="operator")
