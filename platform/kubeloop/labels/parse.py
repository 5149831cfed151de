"""Label batches from JSON (the gateway, CloudEvents, the Python API) or a table (CSV, Parquet import).

A batch is refused as a whole, with the first problems named by position and field
(`[3].label: 'setoza' is not a class of deployment 'iris' (setosa, versicolor, virginica)`), so a
client fixes and resends it; resending is safe because storing is idempotent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from kubeloop.labels.records import Label, LabelError
from kubeloop.labels.schema import LabelSchema

MAX_BATCH = 10_000
MAX_REQUEST_ID = 256
FIELDS = frozenset({"request_id", "row", "label", "sampling_probability"})
_SHOWN_PROBLEMS = 3


def parse_batch(data: Any, *, schema: LabelSchema, deployment: str) -> list[Label]:
    """Labels from a decoded JSON body: a list of `{request_id, row, label[, sampling_probability]}`."""
    if not isinstance(data, list):
        raise LabelError("expected a JSON list of {request_id, row, label} objects")
    if not data:
        raise LabelError("the batch is empty: send at least one label", refused=0)
    if len(data) > MAX_BATCH:
        raise LabelError(f"{len(data)} labels in one batch; send at most {MAX_BATCH}", status=413,
                         refused=len(data))
    return parse_items(data, schema=schema, deployment=deployment)


def parse_items(items: Iterable[Any], *, schema: LabelSchema, deployment: str) -> list[Label]:
    """Every item parsed, or one LabelError naming the first few bad ones (the batch is refused whole)."""
    labels: list[Label] = []
    problems: list[LabelError] = []
    total = 0
    for index, item in enumerate(items):
        total += 1
        try:
            labels.append(parse_item(item, where=f"[{index}]", schema=schema, deployment=deployment))
        except LabelError as error:
            problems.append(error)
    if problems:
        shown = "; ".join(str(p) for p in problems[:_SHOWN_PROBLEMS])
        more = f" (and {len(problems) - _SHOWN_PROBLEMS} more)" if len(problems) > _SHOWN_PROBLEMS else ""
        status = max(p.status for p in problems)
        raise LabelError(f"{len(problems)} of {total} labels refused: {shown}{more}", status=status,
                         refused=total)
    return labels


def parse_item(item: Any, *, where: str, schema: LabelSchema, deployment: str) -> Label:
    """One label object, checked field by field and against the deployment's schema."""
    if not isinstance(item, Mapping):
        raise LabelError(f"{where}: expected an object with request_id, row and label")
    unknown = sorted(set(item) - FIELDS)
    if unknown:
        raise LabelError(f"{where}: unknown fields {unknown}; expected {sorted(FIELDS)}")
    if _missing(item.get("label")):
        raise LabelError(f"{where}.label: required")
    return Label(
        request_id=_request_id(item.get("request_id"), where=where),
        row=_row(item.get("row", 0), where=where),
        label=schema.canonical(item["label"], where=f"{where}.label", deployment=deployment),
        sampling_probability=_probability(item.get("sampling_probability"), where=where),
    )


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _request_id(value: Any, *, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise LabelError(f"{where}.request_id: expected the x-request-id of the answer, got {value!r}")
    if len(value) > MAX_REQUEST_ID:
        raise LabelError(f"{where}.request_id: longer than {MAX_REQUEST_ID} characters")
    return value


def _row(value: Any, *, where: str) -> int:
    if _missing(value):
        return 0
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise LabelError(f"{where}.row: expected the row's index in its request (0 or more), got {value!r}")
    return value


def _probability(value: Any, *, where: str) -> float | None:
    if _missing(value):
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value <= 1:
        raise LabelError(f"{where}.sampling_probability: expected a number in (0, 1], got {value!r}")
    return float(value)


def read_label_file(path: Path) -> pd.DataFrame:
    """A labeling tool's export (CSV or Parquet) as a frame; LabelError names a missing column or file."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            frame = pd.read_parquet(path)
        elif suffix in (".csv", ".tsv"):
            # Request ids stay text: a numeric-looking id must not become a float.
            frame = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", dtype={"request_id": str})
        else:
            raise LabelError(f"{path}: expected a .csv, .tsv or .parquet file")
    except FileNotFoundError:
        raise LabelError(f"{path}: no such file") from None
    except (ValueError, OSError) as error:
        raise LabelError(f"{path}: not readable as {suffix.lstrip('.')}: {error}") from None
    missing = sorted({"request_id", "label"} - set(frame.columns))
    if missing:
        raise LabelError(f"{path}: missing columns {missing}; expected request_id, row, label")
    keep = [c for c in frame.columns if c in FIELDS]
    return frame[keep]


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame's rows as plain Python values (what `parse_items` takes)."""
    plain = frame.astype(object).mask(frame.isna(), None)
    return [{str(name): value for name, value in row.items()} for row in plain.to_dict(orient="records")]
