"""`kubeloop drift`: check live inputs and predictions for drift, and show the retrain trail."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kubeloop.cli.output import console, print_json, print_table, stdout
from kubeloop.errors import SpecError
from kubeloop.settings import load_settings

if TYPE_CHECKING:
    from kubeloop.drift.job import JobOutcome
    from kubeloop.drift.results import FeatureDrift
    from kubeloop.spec import ModelDeployment

drift_app = typer.Typer(help="Drift checks of live traffic against the training reference, and retraining.")
_STYLE = {"drift": "bold red", "no_drift": "green"}


def _deployment(name: str, file: Path | None) -> ModelDeployment:
    from kubeloop.spec import load_deployment

    if file is None:
        from kubeloop.local.processes import load_deployed

        return load_deployed(load_settings(), name)
    deployment = load_deployment(file)
    if deployment.name != name:
        raise SpecError(f"{file} describes deployment {deployment.name!r}, not {name!r}")
    return deployment


def _window(text: str | None) -> float | None:
    from kubeloop.spec import parse_duration

    if text is None:
        return None
    try:
        seconds = parse_duration(text)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--window") from None
    if seconds <= 0:
        raise typer.BadParameter("the window must be positive", param_hint="--window")
    return seconds


def _row(feature: FeatureDrift, label: str | None = None) -> list[str]:
    adjusted = "-" if feature.adjusted_p is None else f"{feature.adjusted_p:.3g}"
    verdict = "[bold red]drift[/]" if feature.drifted else "ok"
    return [label or feature.feature, feature.method, f"{feature.score:.3g}", adjusted, verdict]


def show(outcome: JobOutcome) -> None:
    """The one-screen summary of a drift check."""
    result = outcome.result
    version = f"v{outcome.version}" if outcome.version else "(no version)"
    stdout.print(
        f"[bold]{outcome.deployment}[/]: {outcome.model} {version}, window {outcome.window / 3600:g}h, "
        f"{result.rows:,} rows vs {result.reference_rows:,} reference rows",
        highlight=False,
    )
    style = _STYLE.get(result.status, "yellow")
    stdout.print(f"[{style}]{result.status.replace('_', ' ').upper()}[/]: {result.reason}", highlight=False)
    rows = [_row(f) for f in result.features]
    if result.prediction is not None:
        rows.append(_row(result.prediction, "(prediction)"))
    if rows:
        print_table(
            f"per feature ({result.correction} correction)",
            ["feature", "method", "score", "adjusted p", "verdict"],
            rows,
        )
    for line in (*result.notes, *outcome.messages):
        stdout.print(f"note: {line}", highlight=False)
    if outcome.report:
        stdout.print(f"report: {outcome.report}", highlight=False)
    if outcome.quality is not None:
        stdout.print(f"quality: {outcome.quality.shown()}", highlight=False)
    if outcome.decision is not None:
        action = "RETRAIN" if outcome.decision.fire else "no retrain"
        stdout.print(f"{action}: {outcome.decision.reason}", highlight=False)
    if outcome.trail is not None:
        trail = outcome.trail
        stdout.print(
            f"trail: {trail.trigger} -> pipeline run {trail.run_id} ({trail.run_state}) on "
            f"{trail.trained_on()} -> model version {trail.model_version or '?'} -> "
            f"rollout {trail.rollout or '-'}",
            highlight=False,
        )


def _as_dict(outcome: JobOutcome) -> dict[str, Any]:
    from dataclasses import asdict

    data = asdict(outcome)
    data["result"] = outcome.result.to_dict()
    return data


@drift_app.command("check")
def check(
    deployment: Annotated[str, typer.Argument(help="The deployment whose champion to check.")],
    window: Annotated[
        str | None, typer.Option("--window", help="How far back to read logs, e.g. 1h.")
    ] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="A ModelDeployment YAML file.")] = None,
    retrain: Annotated[bool, typer.Option("--retrain/--no-retrain", help="Apply the retrain policy.")] = True,
    wait: Annotated[float, typer.Option("--wait", help="Seconds to follow a started retrain.")] = 0.0,
    html: Annotated[bool, typer.Option("--html/--no-html", help="Build the Evidently HTML report.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Compare DEPLOYMENT's logged traffic in the window with its model version's training reference."""
    from kubeloop.drift.job import run_drift_job
    from kubeloop.drift.local import local_job

    seconds = _window(window)
    spec = _deployment(deployment, file)
    # MLflow draws a progress bar per downloaded artifact, which would bury the one-screen summary.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    settings = load_settings()
    with console.status("checking drift..."):
        job = local_job(settings, retrain=retrain, wait_timeout=wait, html_reports=html)
        outcome = run_drift_job(job, deployment=spec, now=time.time(), window=seconds, retrain=retrain)
    print_json(_as_dict(outcome)) if as_json else show(outcome)


@drift_app.command("history")
def history(
    deployment: Annotated[str, typer.Argument(help="The deployment whose drift history to show.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Recent drift checks and the retrain trail (report -> pipeline run -> model version -> rollout)."""
    from dataclasses import asdict

    from kubeloop.drift.state import load_state, state_path

    state = load_state(state_path(load_settings().state_dir, deployment))
    if as_json:
        print_json(asdict(state))
        return
    checks = [
        [
            time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(o.at)),
            o.version,
            o.status,
            "-" if o.drift_share is None else f"{o.drift_share:.2f}",
            "-" if o.quality is None else o.quality.shown(),
        ]
        for o in state.history[-15:]
    ]
    columns = ["time (UTC)", "version", "status", "share", "quality"]
    print_table(f"drift checks of {deployment}", columns, checks)
    trail = [
        [
            time.strftime("%Y-%m-%d %H:%M", time.gmtime(t.at)),
            t.trigger,
            f"{t.run_id or '-'} ({t.run_state})",
            t.trained_on(),
            f"{t.source_version} -> {t.model_version or '-'}",
            t.rollout or "-",
        ]
        for t in state.trail
    ]
    if not trail:
        stdout.print("no retrains yet")
        return
    columns = ["time (UTC)", "trigger", "pipeline run", "trained on", "version", "rollout"]
    print_table("retrain trail", columns, trail)


def register(app: typer.Typer) -> None:
    """Add the `drift` command group."""
    app.add_typer(drift_app, name="drift")
