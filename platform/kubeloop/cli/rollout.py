"""`kubeloop rollout`: start, watch, promote, roll back and report progressive rollouts of a challenger."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kubeloop.cli.output import console, print_json, print_table
from kubeloop.errors import KubeloopError
from kubeloop.settings import Settings, load_settings

if TYPE_CHECKING:
    from kubeloop.controller.loop import Controller
    from kubeloop.rollout.state import RolloutState

rollout_app = typer.Typer(help="Shadow and canary rollouts with automated analysis, promotion and rollback.")


@rollout_app.command("start")
def start(
    deployment: str = typer.Argument(..., help="The deployment to roll a new version out on."),
    version: str = typer.Option(..., "--version", help="The registered model version to roll out."),
    strategy: Annotated[
        Path | None, typer.Option("--strategy", help="A YAML rollout strategy (or ModelDeployment).")
    ] = None,
    wait: bool = typer.Option(
        False, "--wait", help="Run the controller here until the rollout ends; exit 0 only if promoted."
    ),
) -> None:
    """Start rolling VERSION out on DEPLOYMENT (shadow, then canary steps), driven by a controller.

    With --wait it returns as soon as the rollout is promoted (exit 0), rolled back (3) or aborted
    (4); the supervisor retires the previous champion once its keepPreviousWarm period is over.
    """
    from kubeloop.controller import local
    from kubeloop.local.supervisor_process import ensure_supervisor
    from kubeloop.rollout.strategy import load_strategy

    spec = load_strategy(strategy) if strategy is not None else None
    settings = load_settings().ensure_dirs()
    target = local.load_target(settings, deployment)
    spec = spec or target.strategy
    local.check_sources(settings, spec)
    controller = local.controller_for(settings, target)
    state = controller.start(deployment=deployment, model=target.model, version=version, spec=spec)
    ensure_supervisor(settings)  # it retires what the rollout leaves warm, after the controller is gone
    console.print(
        f"rollout of {target.model} version {version} on {deployment!r} started in {state.phase.value}"
    )
    if wait:
        _exit_with(_run_here(settings, deployment))
    else:
        pid = _spawn_controller(settings, deployment)
        console.print(
            f"controller running as pid {pid}; follow it with `kubeloop rollout status {deployment}` "
            "(`kubeloop status` shows its metrics endpoint)"
        )


@rollout_app.command("run")
def run(
    deployment: str = typer.Argument(..., help="The deployment whose rollout to drive."),
    metrics_port: int = typer.Option(
        0, "--metrics-port", help="Serve the rollout metrics on this loopback port (0: any free port)."
    ),
) -> None:
    """Run the controller loop for DEPLOYMENT until its rollout ends (resumes from the state file).

    Its metrics are served on loopback for as long as it runs; `kubeloop status` shows where. Exit
    codes as for `rollout start --wait`.
    """
    _exit_with(_run_here(load_settings().ensure_dirs(), deployment, metrics_port=metrics_port))


@rollout_app.command("status")
def status(
    deployment: str = typer.Argument(...),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Phase, weight, each check's latest value and threshold, time to the next step and to promotion."""
    from kubeloop.rollout.file_store import FileStateStore
    from kubeloop.rollout.progress import champion_now, previous_champion, progress

    settings = load_settings()
    state = FileStateStore(settings.state_dir).require(deployment)
    now = time.time()
    info = progress(state, now=now)
    checks = [c.to_dict() for c in state.latest_checks]
    last = state.history[-1].reason if state.history else "started"
    controller = _controller_pid(settings, deployment)
    if as_json:
        print_json(
            {
                **info.to_dict(),
                "deployment": deployment,
                "model": state.model,
                "champion": champion_now(state),
                "challenger": state.challenger,
                "previous": previous_champion(state),
                "failures": state.failures,
                "checks": checks,
                "lastDecision": last,
                "pending": len(state.pending),
                "controllerPid": controller,
                "controllerMetrics": _controller_metrics(settings, deployment),
            }
        )
        return
    console.print(
        f"{deployment}: {state.model} v{state.challenger} vs v{state.champion}: "
        f"[bold]{state.phase.value}[/], "
        f"weight {state.weight}% (steps {list(info.steps)}), "
        f"failures {state.failures}/{state.spec.failure_limit}",
        highlight=False,
    )
    if info.next_analysis_in is not None:
        console.print(
            f"next analysis in {info.next_analysis_in:.0f}s; full promotion in "
            f"{info.promotion_in:.0f}s at best",
            highlight=False,
        )
    console.print(f"last decision: {last}", highlight=False)
    metrics = _controller_metrics(settings, deployment)
    if controller is not None and metrics is not None:
        console.print(f"controller pid {controller}, metrics on {metrics}", highlight=False)
    if not state.phase.terminal and controller is None:
        console.print(
            f"[yellow]no controller is running[/]: resume it with `kubeloop rollout run {deployment}`"
        )
    rows = [(c["name"], c["verdict"], _fmt(c["value"]), f"{c['threshold']:g}", c["samples"]) for c in checks]
    print_table("checks", ["check", "verdict", "value", "threshold", "samples"], rows)


@rollout_app.command("promote")
def promote(deployment: str = typer.Argument(...)) -> None:
    """Skip the remaining steps: send everything to the challenger and make it the champion now."""
    state = _controller(deployment).promote(deployment)
    console.print(f"promoted version {state.challenger} of {state.model} on {deployment!r}")


@rollout_app.command("rollback")
def rollback(
    deployment: str = typer.Argument(...),
    reason: str = typer.Option("rolled back by hand", "--reason", help="Recorded on the model version."),
) -> None:
    """Send all traffic back to the champion at once; aliases stay as they were."""
    state = _controller(deployment).rollback(deployment, reason=reason)
    console.print(f"rolled back version {state.challenger} on {deployment!r}: {reason}")


@rollout_app.command("history")
def history(
    deployment: str = typer.Argument(...),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    all_rollouts: bool = typer.Option(False, "--all", help="Include earlier, archived rollouts."),
) -> None:
    """Every decision of the rollout with its reason and checks."""
    from kubeloop.rollout.file_store import FileStateStore

    store = FileStateStore(load_settings().state_dir)
    states = (store.archived(deployment) if all_rollouts else []) + [store.require(deployment)]
    if as_json:
        print_json(
            [
                {
                    "challenger": s.challenger,
                    "champion": s.champion,
                    "phase": s.phase.value,
                    "history": [e.model_dump(mode="json") for e in s.history],
                }
                for s in states
            ]
        )
        return
    for state in states:
        rows = [
            (time.strftime("%H:%M:%S", time.localtime(e.at)), e.kind, e.phase.value, f"{e.weight}%", e.reason)
            for e in state.history
        ]
        title = f"{deployment}: v{state.challenger} vs v{state.champion} ({state.phase.value})"
        print_table(title, ["time", "decision", "phase", "weight", "reason"], rows)


@rollout_app.command("report")
def report(
    deployment: str = typer.Argument(...),
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="A .html or .png file to write.")
    ] = None,
) -> None:
    """Plot traffic weight over time with the check values, each decision marked (HTML or PNG)."""
    from kubeloop.rollout.file_store import FileStateStore
    from kubeloop.rollout.report import write_report

    settings = load_settings().ensure_dirs()
    state = FileStateStore(settings.state_dir).require(deployment)
    path = output or settings.reports_dir / f"rollout-{deployment}-{int(state.started_at)}.html"
    if path.suffix.lower() not in (".html", ".htm", ".png"):
        raise KubeloopError(f"{path}: the report is written as .html or .png")
    write_report(state, path)
    console.print(f"report written to {path}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the `rollout` command group."""
    app.add_typer(rollout_app, name="rollout")


def _controller(deployment: str) -> Controller:
    from kubeloop.controller import local

    settings = load_settings().ensure_dirs()
    return local.controller_for(settings, local.load_target(settings, deployment))


def _run_here(settings: Settings, deployment: str, *, metrics_port: int = 0) -> RolloutState:
    from prometheus_client import start_http_server

    from kubeloop.controller import local
    from kubeloop.controller.telemetry import RolloutMetrics
    from kubeloop.local import processes

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    telemetry = RolloutMetrics()
    try:
        server, _ = start_http_server(metrics_port, addr="127.0.0.1", registry=telemetry.registry)
    except OSError as error:
        raise KubeloopError(f"cannot serve the rollout metrics on port {metrics_port}: {error}") from error
    pid_file = local.pid_file(settings, deployment)
    pid_file.write_text(str(os.getpid()))
    record = local.record_file(settings, deployment)
    processes.write_record(
        record,
        processes.ProcessRecord(
            kind="rollout-controller",
            pid=os.getpid(),
            port=int(server.server_port),
            deployment=deployment,
            started_at=time.time(),
        ),
    )
    try:
        with local.running_controller(settings, deployment, telemetry=telemetry) as controller:
            state = controller.run(deployment, stop=stop)
    finally:
        record.unlink(missing_ok=True)
        pid_file.unlink(missing_ok=True)
        server.shutdown()
        server.server_close()
    console.print(
        f"rollout on {deployment!r} is {state.phase.value}: "
        f"{state.history[-1].reason if state.history else ''}",
        highlight=False,
    )
    return state


# What `rollout start --wait` and `rollout run` exit with; a stop before the end exits 1.
EXIT_CODES = {"promoted": 0, "rolled-back": 3, "aborted": 4}


def _exit_with(state: RolloutState) -> None:
    code = EXIT_CODES.get(state.phase.value, 1)
    if code:
        raise typer.Exit(code)


def _spawn_controller(settings: Settings, deployment: str) -> int:
    from kubeloop.controller import local
    from kubeloop.local.identity import adopt

    log = local.pid_file(settings, deployment).with_suffix(".log")
    with open(log, "ab") as out:
        process = adopt(subprocess.Popen(
            [sys.executable, "-m", "kubeloop", "rollout", "run", deployment],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        ))
    return process.pid


def _controller_pid(settings: Settings, deployment: str) -> int | None:
    from kubeloop.controller import local

    return local.live_pid(settings, deployment)


def _controller_metrics(settings: Settings, deployment: str) -> str | None:
    from kubeloop.controller import local

    records = local.controller_records(settings, deployment)
    return f"{records[0].url}/metrics" if records else None


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"
