"""`kubeloop up`, `down`, `status` and `demo`: the local platform's lifecycle and the guided loop.

`demo` runs the stages in DEMO_STAGES in order; each is a dotted "module:function" taking Settings,
so later parts of the loop (deploy, rollout, drift) add their stage by appending to the tuple.
"""

from __future__ import annotations

import importlib
from typing import Annotated, Any

import typer

from kubeloop.cli.output import console, print_json
from kubeloop.settings import Settings, load_settings

DEMO_STAGES: tuple[str, ...] = ("kubeloop.cli.platform:demo_training",)
DEMO_MODEL = "iris-classifier"


def up(
    port: Annotated[int, typer.Option(help="Port for the MLflow UI; 0 picks a free one.")] = 0,
    output_json: Annotated[bool, typer.Option("--json", help="Print the server record as JSON.")] = False,
) -> None:
    """Start the local MLflow server (UI and API) on 127.0.0.1 over KUBELOOP_HOME's registry."""
    from dataclasses import asdict

    from kubeloop.cli.output import step
    from kubeloop.platform_services import up as start

    settings = load_settings().ensure_dirs()
    with step("starting the MLflow server"):
        record = start(settings, port=port)
    if output_json:
        print_json(asdict(record))
    else:
        console.print(
            f"MLflow UI on {record.url} (pid {record.pid}); stop it with `kubeloop down`", highlight=False
        )


def down() -> None:
    """Stop what `kubeloop up` started."""
    from kubeloop.platform_services import down as stop

    record = stop(load_settings())
    if record is None:
        console.print(
            "nothing to stop: no MLflow server started by `kubeloop up` is running", highlight=False
        )
    else:
        console.print(f"stopped the MLflow server on {record.url} (pid {record.pid})", highlight=False)


def status(
    output_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show the tracking URI, registered models with aliases, and running local services."""
    from kubeloop.platform_services import status as gather

    state = gather(load_settings())
    if output_json:
        print_json(state)
        return
    console.print(f"home: {state.pop('home')}\ntracking: {state.pop('tracking_uri')}", highlight=False)
    for key, value in state.items():
        console.print(f"[bold]{key}[/]: {value}", highlight=False)


def demo() -> None:
    """Run the loop on this machine: train a champion and a challenger, then each later stage."""
    settings = load_settings().ensure_dirs()
    for dotted in DEMO_STAGES:
        module, _, function = dotted.partition(":")
        getattr(importlib.import_module(module), function)(settings)


def demo_training(settings: Settings) -> None:
    """Demo stage: a champion (if there is none) and a gradient-boosting challenger, then the registry."""
    from kubeloop.cli.models import show_command
    from kubeloop.cli.pipeline import _follow, show_outcome
    from kubeloop.pipelines import runner
    from kubeloop.registry.mlflow_registry import MlflowRegistry

    registry = MlflowRegistry.from_settings(settings)
    runs: list[dict[str, Any]] = []
    if registry.version_for_alias(DEMO_MODEL, "champion") is None:
        runs.append({"estimator": "logistic"})
    runs.append({"estimator": "gradient_boosting", "hyperparams": {"n_estimators": 50}})
    local = runner(settings)
    for params in runs:
        console.rule(f"training {DEMO_MODEL} with {params['estimator']}")
        started = local.submit("training", {"model_name": DEMO_MODEL, **params})
        final = _follow(local, started, timeout=1800.0)
        if final.state != "succeeded":
            from kubeloop.errors import KubeloopError

            raise KubeloopError(f"training {final.state}: {final.message} (log: {local.log_path(started)})")
        show_outcome(dict(final.outputs))
    show_command(name=DEMO_MODEL, version=None, output_json=False)


def register(app: typer.Typer) -> None:
    """Add `up`, `down`, `status` and `demo`."""
    app.command("up")(up)
    app.command("down")(down)
    app.command("status")(status)
    app.command("demo")(demo)
