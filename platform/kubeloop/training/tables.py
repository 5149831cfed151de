"""Weighted training tables: a window of labeled predictions as rows to fit on, alone or mixed.

Each labeled input becomes one row (its logged features, its label as the target) weighing
1 / its inclusion probability, so a stratified or uncertainty sample stands for all the traffic of
the window. Mixed with the pipeline's own table (`train_on="both"`), the labeled rows together carry
`labeled_share` of the total weight and the reference rows the rest, every reference row alike (or
as its own `sample_weight` says); weights are scaled to a mean of 1, so an estimator's regularisation
sees the table's own size. The weights go into the estimator's fit and into the holdout metrics.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kubeloop.labels.join import LABEL, WEIGHT, one_row_each
from kubeloop.predlog.schema import INPUT_PREFIX
from kubeloop.training.labeled import WEIGHT_COLUMN, LabeledDataError, TrainOn


def labeled_table(labeled: pd.DataFrame, *, target: str) -> pd.DataFrame:
    """One row per labeled input (a frame from `LabelStore.read`): features, the label as `target`, weight."""
    rows = one_row_each(labeled)
    features = {c: c.removeprefix(INPUT_PREFIX) for c in rows.columns if c.startswith(INPUT_PREFIX)}
    if not features:
        raise LabeledDataError("the labeled predictions carry no logged inputs to train on")
    table = rows[list(features)].rename(columns=features)
    table[target] = pd.Series(list(rows[LABEL]), dtype=object).infer_objects().to_numpy()
    table[WEIGHT_COLUMN] = rows[WEIGHT].to_numpy(dtype=float)
    return table.reset_index(drop=True)


def _scaled(weights: np.ndarray, total: float) -> np.ndarray:
    result: np.ndarray = weights * (total / weights.sum())
    return result


def _weights(table: pd.DataFrame) -> np.ndarray:
    if WEIGHT_COLUMN not in table:
        return np.ones(len(table))
    found: np.ndarray = table[WEIGHT_COLUMN].to_numpy(dtype=float)
    return found


def mixed(labeled: pd.DataFrame, reference: pd.DataFrame, *, share: float, target: str) -> pd.DataFrame:
    """Both tables on the reference's columns; the labeled rows weigh `share` of the total, mean weight 1."""
    columns = [c for c in reference.columns if c != WEIGHT_COLUMN]
    missing = sorted(set(columns) - set(labeled.columns))
    if missing:
        raise LabeledDataError(f"the labeled rows lack the reference table's column(s) {', '.join(missing)}; "
                               f"logged inputs are {', '.join(c for c in labeled.columns if c != target)}")
    size = len(labeled) + len(reference)
    parts = []
    for part, weight in ((labeled, share), (reference, 1.0 - share)):
        frame = part[columns].copy()
        frame[WEIGHT_COLUMN] = _scaled(_weights(part), weight * size)
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def training_table(
    *, train_on: TrainOn, target: str, share: float, reference: pd.DataFrame | None,
    labeled: pd.DataFrame | None,
) -> pd.DataFrame:
    """The table a training run fits on: the reference table, the labeled rows, or both mixed."""
    if train_on == "reference":
        if reference is None:
            raise LabeledDataError("train_on reference needs the pipeline's data")
        return reference
    if labeled is None or labeled.empty:
        raise LabeledDataError("no labeled predictions in the window: nothing to train on")
    rows = labeled_table(labeled, target=target)
    if train_on == "labeled":
        rows[WEIGHT_COLUMN] = _scaled(rows[WEIGHT_COLUMN].to_numpy(dtype=float), float(len(rows)))
        return rows
    if reference is None:
        raise LabeledDataError("train_on both needs the pipeline's data to mix with")
    return mixed(rows, reference, share=share, target=target)


def weight_column_of(frame: pd.DataFrame, given: str = "") -> str:
    """The frame's weight column: `given` (which must exist), else `sample_weight` when present, else ""."""
    if given:
        if given not in frame.columns:
            raise LabeledDataError(f"weight_column {given!r} is not a column of the table")
        return given
    return WEIGHT_COLUMN if WEIGHT_COLUMN in frame.columns else ""


def check_weights(values: pd.Series, *, column: str) -> None:
    """Refuse weights that are not finite, positive numbers, naming the column."""
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() | ~np.isfinite(numbers.fillna(0)) | (numbers <= 0)
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise LabeledDataError(f"column {column!r} (sample weights): {int(bad.sum())} values that are not "
                               f"finite positive numbers (first at row {first})")


def resampled(frame: pd.DataFrame, *, seed: int) -> pd.DataFrame:
    """A weighted table as plain rows: drawn in proportion to the weights, so they stand for the
    distribution the weights describe (what a drift reference must be), without the weight column."""
    column = weight_column_of(frame)
    if not column:
        return frame
    drawn = frame.sample(n=len(frame), replace=True, weights=frame[column], random_state=seed)
    return drawn.drop(columns=[column]).reset_index(drop=True)
