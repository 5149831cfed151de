"""`kubeloop up`, `down`, `status` and `demo`: the local platform's lifecycle and the guided loop.

`demo` is a thin command over `kubeloop.demo.run_demo`, which sequences the loop's stages.
"""

from __future__ import annotations

from typing import Annotated

import typer

from kubeloop.cli.output import console, print_json
from kubeloop.settings import load_settings


def up(
    port: Annotated[int, typer.Option(help="Port for the MLflow UI; 0 picks a free one.")] = 0,
    output_json: Annotated[bool, typer.Option("--json", help="Print the server record as JSON.")] = False,
) -> None:
    """Start the local MLflow server (UI and API) on 127.0.0.1 over KUBELOOP_HOME's registry, and the
    supervisor when deployments are recorded (it brings back their servers and gateway)."""
    from dataclasses import asdict

    from kubeloop.cli.output import step
    from kubeloop.local import processes
    from kubeloop.local.supervisor_process import ensure_supervisor
    from kubeloop.platform_services import up as start

    settings = load_settings().ensure_dirs()
    with step("starting the MLflow server"):
        record = start(settings, port=port)
    if processes.server_records(settings) or processes.gateway_path(settings).exists():
        ensure_supervisor(settings)  # it starts again the deployments recorded here whose processes died
    if output_json:
        print_json(asdict(record))
    else:
        console.print(
            f"MLflow UI on {record.url} (pid {record.pid}); stop it with `kubeloop down`", highlight=False
        )


def down() -> None:
    """Stop the local platform: the supervisor, rollout controllers, model servers, gateway and MLflow UI."""
    from kubeloop.local.teardown import stop_local
    from kubeloop.platform_services import down as stop

    settings = load_settings()
    stopped = stop_local(settings)
    record = stop(settings)
    if record is not None:
        stopped.append(f"the MLflow server on {record.url} (pid {record.pid})")
    if not stopped:
        console.print("nothing to stop: no local kubeloop process is running", highlight=False)
    for line in stopped:
        console.print(f"stopped {line}", highlight=False)


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


def demo(
    fast: Annotated[bool, typer.Option("--fast", help="Short windows and steps (about 3 minutes).")] = False,
    ui: Annotated[bool, typer.Option("--ui/--no-ui", help="Start the MLflow UI alongside.")] = True,
    keep: Annotated[
        bool, typer.Option("--keep", help="Leave the loop running afterwards; `kubeloop down` stops it.")
    ] = False,
) -> None:
    """Run the loop on this machine: train, serve, drift, retrain, shadow, canary, promote, roll back."""
    from kubeloop.cli.output import print_table
    from kubeloop.demo import run_demo
    from kubeloop.demo.summary import COLUMNS, table_rows

    result = run_demo(load_settings().ensure_dirs(), fast=fast, ui=ui, keep=keep)
    console.rule("where to look" if keep else "where it was (stopped now: these addresses no longer answer)")
    for place, where in result.places.items():
        console.print(f"[bold]{place}[/]: {where}", highlight=False)
    print_table("every decision, with its reason", COLUMNS, table_rows(result.decisions))
    console.print(closing_line(seconds=result.seconds, keep=keep))


def closing_line(*, seconds: float, keep: bool) -> str:
    """The demo's last line: whether its links still answer."""
    if keep:
        return (f"demo finished in {seconds:.0f}s; the loop keeps running (the links above answer, the "
                "supervisor restarts what dies): stop it with `kubeloop down`")
    return (f"demo finished in {seconds:.0f}s; every process it started is stopped, so the links above no "
            "longer answer: run `kubeloop demo --keep` to leave them running")


def register(app: typer.Typer) -> None:
    """Add `up`, `down`, `status` and `demo`."""
    app.command("up")(up)
    app.command("down")(down)
    app.command("status")(status)
    app.command("demo")(demo)
