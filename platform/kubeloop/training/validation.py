"""Data validation: a pure check of a table against what training needs; errors name the column."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubeloop.errors import KubeloopError

MAX_CATEGORIES = 50  # more distinct values than this is free text, not a category
MAX_CLASSES = 20  # an integer target with more distinct values is treated as a regression target


class DataValidationError(KubeloopError):
    """The data cannot be trained on; the message names the column and the problem."""


@dataclass(frozen=True, kw_only=True)
class DataSchema:
    """What validation learnt: the task and how each feature column will be encoded."""

    target: str
    task: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    classes: tuple[str, ...] = ()
    rows: int = 0

    @property
    def features(self) -> tuple[str, ...]:
        """Every feature column, numeric first, in the order the model expects them."""
        return self.numeric + self.categorical


def validate_frame(frame: Any, *, target: str, task: str = "auto", min_rows: int = 20) -> DataSchema:
    """Check a pandas DataFrame and return its schema, or raise DataValidationError naming the column."""
    columns = [str(c) for c in frame.columns]
    if target not in columns:
        raise DataValidationError(f"target column {target!r} not found; columns are: {', '.join(columns)}")
    if len(frame) < min_rows:
        raise DataValidationError(f"only {len(frame)} rows; at least {min_rows} are needed")
    features = [c for c in columns if c != target]
    if not features:
        raise DataValidationError(f"no feature columns besides the target {target!r}")
    _check_missing(frame, target, role="target")
    numeric: list[str] = []
    categorical: list[str] = []
    for column in features:
        _check_missing(frame, column, role="feature")
        (numeric if _feature_kind(frame[column], column) == "numeric" else categorical).append(column)
    resolved = infer_task(frame[target]) if task == "auto" else task
    classes = _check_target(frame[target], target, resolved)
    return DataSchema(
        target=target,
        task=resolved,
        numeric=tuple(numeric),
        categorical=tuple(categorical),
        classes=classes,
        rows=len(frame),
    )


def infer_task(target: Any) -> str:
    """regression for real-valued or many-valued numeric targets, else binary or multiclass."""
    from pandas.api import types

    distinct = target.nunique(dropna=True)
    if types.is_bool_dtype(target) or not types.is_numeric_dtype(target):
        return "binary" if distinct == 2 else "multiclass"
    is_integral = types.is_integer_dtype(target) or bool((target.dropna() % 1 == 0).all())
    if is_integral and distinct <= MAX_CLASSES:
        return "binary" if distinct == 2 else "multiclass"
    return "regression"


def _check_missing(frame: Any, column: str, *, role: str) -> None:
    missing = frame[column].isna()
    if missing.any():
        first = missing.to_numpy().nonzero()[0][0]
        raise DataValidationError(
            f"column {column!r} ({role}): {int(missing.sum())} missing values (first at row {first})"
        )


def _feature_kind(series: Any, column: str) -> str:
    """'numeric' or 'categorical'; refuse what cannot be encoded."""
    import numpy as np
    from pandas.api import types

    if types.is_bool_dtype(series):
        return "categorical"
    if types.is_datetime64_any_dtype(series) or types.is_timedelta64_dtype(series):
        raise DataValidationError(
            f"column {column!r}: date/time values cannot be encoded; convert them to numbers"
        )
    if types.is_numeric_dtype(series):
        infinite = int(np.isinf(series.to_numpy(dtype=float)).sum())
        if infinite:
            raise DataValidationError(f"column {column!r}: {infinite} infinite values")
        return "numeric"
    values = series.map(type).unique()
    if len(values) > 1:
        kinds = ", ".join(sorted(v.__name__ for v in values))
        raise DataValidationError(f"column {column!r}: mixed value types ({kinds}) cannot be encoded")
    distinct = series.nunique()
    if distinct > MAX_CATEGORIES or distinct > len(series) // 2:
        raise DataValidationError(
            f"column {column!r}: non-numeric with {distinct} distinct values in {len(series)} rows cannot be "
            f"encoded as a category (at most {min(MAX_CATEGORIES, len(series) // 2)})"
        )
    return "categorical"


def _check_target(series: Any, column: str, task: str) -> tuple[str, ...]:
    from pandas.api import types

    if task == "regression":
        if not types.is_numeric_dtype(series) or types.is_bool_dtype(series):
            raise DataValidationError(f"column {column!r} (target): regression needs a numeric target")
        return ()
    counts = series.astype(str).value_counts()
    if task == "binary" and len(counts) != 2:
        raise DataValidationError(f"column {column!r} (target): binary needs 2 classes, found {len(counts)}")
    if len(counts) < 2:
        raise DataValidationError(f"column {column!r} (target): a classifier needs at least 2 classes")
    rare = counts[counts < 2]
    if len(rare):
        raise DataValidationError(
            f"column {column!r} (target): class {rare.index[0]!r} has only 1 row; each class needs at least 2"
        )
    return tuple(sorted(counts.index))
