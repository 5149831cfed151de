"""Shadow disagreement and prediction shift on prediction-log frames."""

from __future__ import annotations

import pandas as pd
import pytest

from kubeloop.analysis.model_checks import disagreement, is_classification, prediction_shift


def frame(predictions: list[object], *, ids: list[str] | None = None, status: int = 200) -> pd.DataFrame:
    ids = ids or [f"r{i}" for i in range(len(predictions))]
    return pd.DataFrame({"request_id": ids, "row": 0, "prediction": predictions, "status": status})


def test_label_mismatch_rate_pairs_by_request_id_not_by_position() -> None:
    champion = frame(["a", "b", "c", "d"], ids=["1", "2", "3", "4"])
    challenger = frame(["d", "c", "x", "a"], ids=["4", "3", "2", "1"])  # same answers except request 2
    result = disagreement(champion, challenger)
    assert result.samples == 4 and result.value == pytest.approx(0.25)


def test_unpaired_rows_are_left_out() -> None:
    result = disagreement(frame([1, 1, 1]), frame([0], ids=["r0"]))
    assert (result.samples, result.value) == (1, 1.0)


def test_no_pairs_means_no_value() -> None:
    assert disagreement(frame([1]), frame([1], ids=["other"])).value is None
    assert disagreement(frame([]), frame([1])).samples == 0


def test_regression_disagreement_is_mean_relative_error() -> None:
    result = disagreement(frame([10.0, 20.0]), frame([11.0, 18.0]), task="regression")
    assert result.value == pytest.approx((0.1 + 0.1) / 2)


def test_task_is_inferred_from_the_predictions() -> None:
    assert is_classification(pd.Series(["setosa"])) and is_classification(pd.Series([0, 1, 2]))
    assert not is_classification(pd.Series([0.5, 1.25]))


def test_shift_is_zero_for_the_same_distribution_and_one_for_disjoint_labels() -> None:
    same = prediction_shift(frame([0, 1] * 50), frame([1, 0] * 50))
    assert (same.value, same.samples) == (0.0, 100)
    assert prediction_shift(frame([0] * 10), frame([1] * 10)).value == 1.0


def test_shift_compares_class_frequencies_by_total_variation() -> None:
    result = prediction_shift(frame([0] * 50 + [1] * 50), frame([0] * 80 + [1] * 20))
    assert result.value == pytest.approx(0.3)


def test_regression_shift_is_the_ks_statistic() -> None:
    low = [i / 10 for i in range(100)]
    high = [x + 5 for x in low]
    assert prediction_shift(frame(low), frame(high)).value == pytest.approx(0.5)
    assert prediction_shift(frame(low), frame(low)).value == pytest.approx(0.0)


def test_failed_answers_do_not_count_as_predictions() -> None:
    errors = frame([1] * 10, status=500)
    assert prediction_shift(frame([0] * 10), errors).value is None
