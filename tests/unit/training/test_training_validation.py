"""Validation names the column and the problem; the task is inferred from the target."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kubeloop.training.validation import DataValidationError, infer_task, validate_frame


def _frame(rows: int = 40, **extra: object) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x1": rng.normal(size=rows),
            "x2": rng.integers(0, 5, size=rows),
            "colour": rng.choice(["red", "green", "blue"], size=rows),
            "target": np.arange(rows) % 2,
        }
    )
    for name, values in extra.items():
        frame[name] = values
    return frame


def test_a_good_table_gives_its_schema() -> None:
    schema = validate_frame(_frame(), target="target")
    assert schema.task == "binary"
    assert schema.numeric == ("x1", "x2") and schema.categorical == ("colour",)
    assert schema.features == ("x1", "x2", "colour")
    assert schema.classes == ("0", "1") and schema.rows == 40


@pytest.mark.parametrize(
    ("target", "task"),
    [
        (pd.Series([0, 1] * 10), "binary"),
        (pd.Series(["a", "b", "c"] * 10), "multiclass"),
        (pd.Series([True, False] * 10), "binary"),
        (pd.Series(np.linspace(0, 1, 30)), "regression"),
        (pd.Series(range(100)), "regression"),
        (pd.Series([1.0, 2.0, 3.0] * 10), "multiclass"),
    ],
)
def test_infer_task(target: pd.Series, task: str) -> None:
    assert infer_task(target) == task


def test_a_missing_target_column_lists_the_columns() -> None:
    with pytest.raises(
        DataValidationError, match="target column 'label' not found; columns are: x1, x2, colour"
    ):
        validate_frame(_frame(), target="label")


def test_too_few_rows() -> None:
    with pytest.raises(DataValidationError, match="only 10 rows; at least 20 are needed"):
        validate_frame(_frame(rows=10), target="target")


def test_missing_values_name_the_column_and_the_first_row() -> None:
    frame = _frame()
    frame.loc[[3, 7], "x1"] = np.nan
    with pytest.raises(
        DataValidationError, match=r"column 'x1' \(feature\): 2 missing values \(first at row 3\)"
    ):
        validate_frame(frame, target="target")
    frame = _frame()
    frame.loc[5, "target"] = np.nan
    with pytest.raises(DataValidationError, match=r"column 'target' \(target\): 1 missing values"):
        validate_frame(frame, target="target")


def test_free_text_cannot_be_encoded() -> None:
    frame = _frame(comment=[f"note {i}" for i in range(40)])
    with pytest.raises(DataValidationError, match="column 'comment': non-numeric with 40 distinct values"):
        validate_frame(frame, target="target")


def test_mixed_types_and_infinities_and_dates_are_refused() -> None:
    with pytest.raises(DataValidationError, match=r"column 'mixed': mixed value types \(int, str\)"):
        validate_frame(_frame(mixed=[1, "a"] * 20), target="target")
    with pytest.raises(DataValidationError, match="column 'ratio': 1 infinite values"):
        validate_frame(_frame(ratio=[np.inf] + [1.0] * 39), target="target")
    with pytest.raises(DataValidationError, match="column 'day': date/time values"):
        validate_frame(_frame(day=pd.date_range("2024-01-01", periods=40)), target="target")


def test_target_checks_per_task() -> None:
    with pytest.raises(DataValidationError, match="regression needs a numeric target"):
        validate_frame(_frame(target=["a", "b"] * 20), target="target", task="regression")
    with pytest.raises(DataValidationError, match="binary needs 2 classes, found 3"):
        validate_frame(_frame(target=[0, 1, 2, 0] * 10), target="target", task="binary")
    with pytest.raises(DataValidationError, match="class '9' has only 1 row"):
        validate_frame(_frame(target=[0, 1] * 19 + [0, 9]), target="target")
    with pytest.raises(DataValidationError, match="at least 2 classes"):
        validate_frame(_frame(target=[1] * 40), target="target", task="multiclass")


def test_no_features_besides_the_target() -> None:
    with pytest.raises(DataValidationError, match="no feature columns"):
        validate_frame(pd.DataFrame({"target": [0, 1] * 15}), target="target")
