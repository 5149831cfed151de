"""`kubeloop labels`: import a labeling tool's export, export the labeling queue, show the label counts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kubeloop.cli.output import console, print_json, print_table
from kubeloop.errors import NotFoundError
from kubeloop.settings import Settings, load_settings

if TYPE_CHECKING:
    from kubeloop.labels.store import LocalLabelStore

labels_app = typer.Typer(help="Ground truth for answered requests: import labels, export what to label.")
IMPORT_CHUNK = 10_000
_Window = Annotated[str, typer.Option("--window", help="How far back from --at, e.g. 1d or 6h.")]
_At = Annotated[str | None, typer.Option("--at", help="End of the window: epoch seconds or ISO time.")]


def known_store(settings: Settings, deployment: str) -> LocalLabelStore:
    """The label store of a deployment that is deployed here or has logged predictions."""
    from kubeloop.labels.store import LocalLabelStore
    from kubeloop.local.processes import deployed_names
    from kubeloop.predlog.store import deployment_folder

    logged = deployment_folder(settings.logs_dir, deployment).is_dir()
    if deployment not in deployed_names(settings) and not logged:
        raise NotFoundError(f"no deployment {deployment!r} here: deploy it with `kubeloop deploy <file>`")
    return LocalLabelStore.from_settings(settings)


def window_bounds(window: str, at: str | None) -> tuple[float, float]:
    """(since, until) in epoch seconds for a window ending at `at` (default: now)."""
    import time
    from datetime import UTC, datetime

    from kubeloop.spec import parse_duration

    try:
        seconds = parse_duration(window)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--window") from None
    until = time.time()
    if at is not None:
        try:
            until = float(at)
        except ValueError:
            try:
                moment = datetime.fromisoformat(at)
            except ValueError:
                raise typer.BadParameter(f"expected epoch seconds or an ISO time, got {at!r}",
                                         param_hint="--at") from None
            until = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    return until - seconds, until


@labels_app.command("import")
def import_labels(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet with request_id, row, label.")],
    deployment: Annotated[str, typer.Option("--deployment", "-d", help="The deployment the labels are for.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Import a labeling tool's export: checked whole first (nothing is stored if a row is bad)."""
    from rich.progress import Progress

    from kubeloop.labels.parse import frame_records, parse_items, read_label_file
    from kubeloop.labels.records import LabelError, PutResult

    settings = load_settings()
    store = known_store(settings, deployment)
    frame = read_label_file(file)
    try:
        labels = parse_items(frame_records(frame), schema=store.schema(deployment), deployment=deployment)
    except LabelError as error:
        store.count_refused(deployment, error.refused)
        raise LabelError(f"{file}: {error}") from None
    result = PutResult()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"importing {len(labels):,} labels", total=len(labels))
        for start in range(0, len(labels), IMPORT_CHUNK):
            chunk = labels[start:start + IMPORT_CHUNK]
            result += store.put(deployment, chunk)
            progress.advance(task, len(chunk))
    status = store.status(deployment)
    summary = {**result.to_dict(), "waiting_for_prediction": status["unmatched"], "stored": status["stored"]}
    if as_json:
        print_json(summary)
        return
    console.print(f"{deployment}: {result.received:,} labels from {file}: {result.new:,} new, "
                  f"{result.duplicate:,} duplicate, {result.changed:,} changed; {status['stored']:,} stored, "
                  f"{status['unmatched']:,} waiting for their prediction", highlight=False)


@labels_app.command("queue")
def queue(
    deployment: Annotated[str, typer.Argument(help="The deployment whose chosen requests to export.")],
    window: _Window = "1d",
    at: _At = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help=".csv, .parquet or .jsonl")] = None,
    include_labeled: Annotated[bool, typer.Option("--all", help="Also rows already labeled.")] = False,
) -> None:
    """Export the requests the labeling policy chose (id, inputs, predictions, probabilities)."""
    from kubeloop.labels.queue import chosen_rows, write_table
    from kubeloop.predlog.reader import read_predictions

    settings = load_settings()
    store = known_store(settings, deployment)
    since, until = window_bounds(window, at)
    predictions = read_predictions(settings, deployment, since=since, until=until)
    chosen = chosen_rows(predictions, labeled=None if include_labeled else store.labels(deployment))
    if output is None:
        chosen.to_csv(sys.stdout, index=False)
    else:
        write_table(chosen, output)
    answered = predictions.drop_duplicates(["request_id", "row"]).shape[0] if not predictions.empty else 0
    console.print(f"{deployment}: {len(chosen):,} rows to label of {answered:,} answered in the window"
                  + (f", written to {output}" if output else ""), highlight=False)


@labels_app.command("status")
def status(
    deployment: Annotated[str, typer.Argument(help="The deployment whose labels to count.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Labels received by outcome (new, duplicate, changed, refused), stored, and waiting for predictions."""
    counts = known_store(load_settings(), deployment).status(deployment)
    if as_json:
        print_json(counts)
        return
    order = ("new", "duplicate", "changed", "refused", "stored", "matched", "unmatched")
    rows = [[name, f"{counts[name]:,}"] for name in order]
    print_table(f"labels of {deployment}", ["count", "labels"], rows)


def register(app: typer.Typer) -> None:
    """Add the `labels` command group."""
    app.add_typer(labels_app, name="labels")
