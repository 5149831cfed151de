"""Checks on the model's answers: shadow disagreement paired by request id and prediction-distribution shift.

Pure functions over prediction-log frames (one row per input row, see predlog.schema): the champion's
rows and the challenger's rows over the same window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from kubeloop.predlog.schema import PREDICTION

_KEYS = ["request_id", "row"]
# Relative error divides by the champion's magnitude; this floor keeps answers near zero from exploding it.
_REL_FLOOR = 1e-6


@dataclass(frozen=True, kw_only=True)
class Measurement:
    """A measured value and the number of samples behind it (value None: nothing to measure yet)."""

    value: float | None
    samples: int


def is_classification(predictions: pd.Series) -> bool:
    """Labels (strings, booleans, integers) are a classifier's; floats with fractions are a regressor's."""
    values = predictions.dropna()
    if values.empty or values.dtype == object or values.dtype == bool:
        return True
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.isna().any():
        return True
    return bool(np.all(np.equal(np.mod(numbers, 1), 0)))


def disagreement(champion: pd.DataFrame, challenger: pd.DataFrame, *, task: str | None = None) -> Measurement:
    """Label mismatch rate (classifiers) or mean relative error (regressors) over request-id pairs."""
    pairs = _pairs(champion, challenger)
    if pairs.empty:
        return Measurement(value=None, samples=0)
    a, b = pairs[f"{PREDICTION}_a"], pairs[f"{PREDICTION}_b"]
    if _classifier(task, a):
        value = float((a.astype(str) != b.astype(str)).mean())
    else:
        x, y = a.astype(float).to_numpy(), b.astype(float).to_numpy()
        value = float(np.mean(np.abs(y - x) / np.maximum(np.abs(x), _REL_FLOOR)))
    return Measurement(value=value, samples=len(pairs))


def prediction_shift(
    champion: pd.DataFrame, challenger: pd.DataFrame, *, task: str | None = None
) -> Measurement:
    """How far the challenger's answers are distributed from the champion's over the same window.

    Classifiers: total variation distance between the class frequencies. Regressors: the two-sample
    Kolmogorov-Smirnov statistic. Both lie in [0, 1], so one threshold reads the same for either.
    """
    a = _predictions(champion)
    b = _predictions(challenger)
    samples = min(len(a), len(b))
    if samples == 0:
        return Measurement(value=None, samples=0)
    if _classifier(task, a):
        p = a.astype(str).value_counts(normalize=True)
        q = b.astype(str).value_counts(normalize=True)
        value = 0.5 * float(p.sub(q, fill_value=0.0).abs().sum())
    else:
        value = float(stats.ks_2samp(a.astype(float).to_numpy(), b.astype(float).to_numpy()).statistic)
    return Measurement(value=value, samples=samples)


def _classifier(task: str | None, predictions: pd.Series) -> bool:
    if task is not None:
        return task.startswith("classif") or task in ("binary", "multiclass")
    return is_classification(predictions)


def _predictions(frame: pd.DataFrame) -> pd.Series:
    if frame.empty or PREDICTION not in frame:
        return pd.Series([], dtype=float)
    ok = frame[frame["status"] < 400] if "status" in frame else frame
    return ok[PREDICTION].dropna()


def _pairs(champion: pd.DataFrame, challenger: pd.DataFrame) -> pd.DataFrame:
    if champion.empty or challenger.empty:
        return pd.DataFrame(columns=[f"{PREDICTION}_a", f"{PREDICTION}_b"])
    left = champion[[*_KEYS, PREDICTION]].drop_duplicates(_KEYS)
    right = challenger[[*_KEYS, PREDICTION]].drop_duplicates(_KEYS)
    pairs = left.merge(right, on=_KEYS, suffixes=("_a", "_b"))
    return pairs.dropna()
