"""Data validation: a pure check of a table against what training needs; errors name the column."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubeloop.errors import KubeloopError
from kubeloop.training.labeled import WEIGHT_COLUMN

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
    weight: str = ""  # the column of sample weights (`sample_weight`), "" when rows weigh the same

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
    weight = WEIGHT_COLUMN if WEIGHT_COLUMN in columns and target != WEIGHT_COLUMN else ""
    features = [c for c in columns if c not in (target, weight)]
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
        weight=weight,
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


def parse_expected(text: str) -> dict[str, Any]:
    """An expected schema from JSON: DataSchema's fields (a validate step's output) plus optional ranges.

    `{"target": "y", "numeric": ["x"], "categorical": ["shop"], "classes": ["0", "1"],
    "ranges": {"x": [0, 100]}}`; every key is optional.
    """
    import json

    try:
        expected = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataValidationError(f"expected schema: not valid JSON ({error.msg})") from error
    if not isinstance(expected, dict):
        raise DataValidationError("expected schema: a JSON object such as {\"numeric\": [\"x\"]}")
    return expected


def check_expected(frame: Any, schema: DataSchema, expected: dict[str, Any]) -> None:
    """Refuse a table whose schema or values differ from the expected one; the message names the column."""
    for key in ("target", "task"):
        if expected.get(key) not in (None, getattr(schema, key)):
            found = getattr(schema, key)
            raise DataValidationError(f"{key}: expected {expected[key]!r}, the table has {found!r}")
    for kind in ("numeric", "categorical"):
        wanted = set(expected.get(kind, getattr(schema, kind)))
        have = set(getattr(schema, kind))
        if missing := sorted(wanted - have):
            raise DataValidationError(
                f"expected {kind} column(s) missing or of another kind: {', '.join(missing)}"
            )
        if extra := sorted(have - wanted):
            raise DataValidationError(f"unexpected {kind} column(s): {', '.join(extra)}")
    if new := sorted(set(schema.classes) - {str(c) for c in expected.get("classes", schema.classes)}):
        raise DataValidationError(f"column {schema.target!r} (target): unexpected class(es) {', '.join(new)}")
    for column, bounds in expected.get("ranges", {}).items():
        _check_range(frame, str(column), bounds)


def _check_range(frame: Any, column: str, bounds: Any) -> None:
    if column not in frame.columns:
        raise DataValidationError(f"ranges: column {column!r} is not in the table")
    low, high = (float("-inf") if b is None else float(b) for b in bounds)
    outside = ~frame[column].between(low, high)
    if outside.any():
        first = outside.to_numpy().nonzero()[0][0]
        raise DataValidationError(
            f"column {column!r}: {int(outside.sum())} values outside [{low:g}, {high:g}] "
            f"(first at row {first})"
        )


def split_frame(frame: Any, schema: DataSchema, *, test_size: float, seed: int) -> tuple[Any, Any]:
    """Train and holdout parts: a holdout share of each class for classifiers, a random one for regression.

    pandas' own sampling, not scikit-learn's train_test_split: importing sklearn.model_selection costs
    a validate task about a second of its start-up, more than the split itself by far.
    """
    columns = [*schema.features, schema.target, *([schema.weight] if schema.weight else [])]
    table = frame[columns]
    if schema.task == "regression":
        holdout = table.sample(frac=test_size, random_state=seed)
    else:
        holdout = table.groupby(table[schema.target].astype(str), group_keys=False).sample(
            frac=test_size, random_state=seed
        )
    return table.drop(index=holdout.index), holdout
