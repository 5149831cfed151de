"""Reading prediction logs back as a DataFrame, one row per input row, for drift and shadow analysis."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from kubeloop.predlog.schema import (
    INCLUSION_KEY,
    INCLUSION_PROBABILITY,
    INPUT_PREFIX,
    META_COLUMNS,
    PREDICTION,
    PredictionRecord,
)
from kubeloop.predlog.store import iter_records, log_files
from kubeloop.settings import Settings

PROBABILITY_PREFIX = "probability."


def _seconds(value: float | datetime | None) -> float | None:
    if value is None or isinstance(value, int | float):
        return value
    return value.timestamp()


def _keep(record: PredictionRecord, *, version: str | None, role: str | None,
          since: float | None, until: float | None, request_ids: Collection[str] | None = None) -> bool:
    if request_ids is not None and record.request_id not in request_ids:
        return False
    if version is not None and record.version != str(version):
        return False
    if role is not None and record.role != role:
        return False
    if since is not None and record.timestamp < since:
        return False
    return until is None or record.timestamp < until


def record_rows(record: PredictionRecord) -> list[dict[str, Any]]:
    """The flat rows of one record: meta columns, each input feature, the prediction, probabilities."""
    probabilities = record.extra.get("probabilities") or []
    classes = record.extra.get("classes") or []
    inclusion = record.extra.get(INCLUSION_KEY) or []
    rows = []
    for index, (inputs, output) in enumerate(zip(record.inputs, record.outputs, strict=False)):
        row: dict[str, Any] = {
            "request_id": record.request_id, "row": index, "timestamp": record.timestamp,
            "deployment": record.deployment, "model": record.model, "version": record.version,
            "role": record.role, "status": record.status, "latency_ms": record.latency_ms,
            PREDICTION: output,
        }
        row.update({INPUT_PREFIX + name: value for name, value in inputs.items()})
        if index < len(inclusion):
            row[INCLUSION_PROBABILITY] = inclusion[index]
        if index < len(probabilities):
            row.update({f"{PROBABILITY_PREFIX}{c}": p
                        for c, p in zip(classes, probabilities[index], strict=False)})
        rows.append(row)
    return rows


def records_frame(records: Iterable[PredictionRecord]) -> pd.DataFrame:
    """A DataFrame following predlog.schema's column contract, sorted by time then row."""
    rows = [row for record in records for row in record_rows(record)]
    frame = pd.DataFrame(rows, columns=None if rows else [*META_COLUMNS, PREDICTION])
    if rows:
        frame = frame.sort_values(["timestamp", "request_id", "row"], kind="stable", ignore_index=True)
    return frame


def read_predictions(
    source: Settings | Path | str,
    deployment: str,
    version: str | None = None,
    role: str | None = None,
    since: float | datetime | None = None,
    until: float | datetime | None = None,
    request_ids: Collection[str] | None = None,
) -> pd.DataFrame:
    """Logged predictions of a deployment, optionally one version/role and a [since, until) window.

    `source` is the Settings (its logs_dir is read) or the logs folder itself; times are epoch seconds
    or datetimes, and the `timestamp` column holds epoch seconds. `request_ids` keeps only those
    requests (labels join a few requests out of many: the others are never turned into rows).
    """
    root = source.logs_dir if isinstance(source, Settings) else Path(source)
    start, end = _seconds(since), _seconds(until)
    records = (
        record for record in iter_records(log_files(root, deployment, since=start))
        if _keep(record, version=version, role=role, since=start, until=end, request_ids=request_ids)
    )
    return records_frame(records)
