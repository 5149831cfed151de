"""`kubeloop quality`: online model quality per version and role, from labels, with intervals."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from kubeloop.cli.labels import known_store, window_bounds
from kubeloop.cli.output import print_json, print_table, stdout
from kubeloop.settings import Settings, load_settings

if TYPE_CHECKING:
    import pandas as pd

    from kubeloop.quality.online import VersionQuality
    from kubeloop.quality.statistic import Estimate


def _shown(estimate: Estimate) -> list[str]:
    if estimate.value != estimate.value:
        return ["-", "-"]
    bounds = "-" if estimate.low != estimate.low else f"{estimate.low:.4f} .. {estimate.high:.4f}"
    return [f"{estimate.value:.4f}", bounds]


def show(report: VersionQuality, *, confidence: float) -> None:
    """One version's metrics table and, for classifiers, its per-class table."""
    stdout.print(f"[bold]v{report.version} ({report.role})[/]: {report.labeled:,} labeled rows, "
                 f"effective sample size {report.effective:,.0f}", highlight=False)
    level = f"{confidence:.0%} interval"
    print_table("", ["metric", "estimate", level], [[m, *_shown(e)] for m, e in report.metrics.items()])
    if report.per_class:
        classes = list(next(iter(report.per_class.values())))
        rows = [[name, *(_shown(report.per_class[m][name])[0] for m in report.per_class)] for name in classes]
        print_table("", ["class", *report.per_class], rows)


def quality(
    deployment: Annotated[str, typer.Argument(help="The deployment whose labeled answers to measure.")],
    window: Annotated[str, typer.Option("--window", help="Predictions made this far back from --at.")] = "1d",
    at: Annotated[str | None, typer.Option("--at", help="End of the window: epoch seconds or ISO.")] = None,
    confidence: Annotated[float, typer.Option("--confidence", min=0.5, max=0.999)] = 0.95,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Accuracy, per-class precision/recall/F1, log loss, Brier, calibration (or MAE, RMSE, R2), weighted
    by inclusion probability, with intervals; pushed to KUBELOOP_PUSHGATEWAY_URL when it is set."""
    from kubeloop.quality.online import online_quality

    settings = load_settings()
    store = known_store(settings, deployment)
    since, until = window_bounds(window, at)
    labeled = store.read(deployment, since, until)
    reports = online_quality(labeled, confidence=confidence)
    counts = store.status(deployment)
    pushed = None
    if settings.pushgateway_url:
        pushed = _push(settings, deployment, url=settings.pushgateway_url, labeled=labeled, reports=reports,
                       counts=counts)
    if as_json:
        print_json({"deployment": deployment, "since": since, "until": until, "labels": counts,
                    "versions": [r.to_dict() for r in reports], "pushed": pushed})
        return
    end = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(until))
    stdout.print(f"[bold]{deployment}[/]: predictions of the {window} up to {end} UTC; labels: "
                 f"{counts['stored']:,} stored, {counts['unmatched']:,} waiting for their prediction",
                 highlight=False)
    if not reports:
        stdout.print("no labeled predictions in the window")
    for report in reports:
        show(report, confidence=confidence)
    if pushed:
        stdout.print(f"note: {pushed}", highlight=False)


def _push(settings: Settings, deployment: str, *, url: str, labeled: pd.DataFrame,
          reports: list[VersionQuality], counts: dict[str, int]) -> str:
    """Push the estimates, each version's holdout figures beside them (what the quality alert compares)."""
    from kubeloop.drift.quality import offline_of
    from kubeloop.drift.store import MlflowDriftStore
    from kubeloop.quality.exporter import QualityMetrics

    model = str(labeled["model"].iloc[0]) if not labeled.empty else ""
    offline, notes = offline_of(MlflowDriftStore(tracking_uri=settings.tracking_uri), model=model,
                                versions=[r.version for r in reports]) if model else ({}, ())
    metrics = QualityMetrics()
    metrics.record(deployment=deployment, model=model, reports=reports, counts=counts, now=time.time(),
                   offline=offline)
    return "; ".join([metrics.push(url=url, deployment=deployment).message, *notes])


def register(app: typer.Typer) -> None:
    """Add the `quality` command."""
    app.command("quality")(quality)
