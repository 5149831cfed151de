"""The quality gate decides from plain numbers: threshold first, then improvement over the champion."""

from __future__ import annotations

import pytest

from kubeloop.errors import KubeloopError
from kubeloop.training.gate import HIGHER_IS_BETTER, GatePolicy, check_metric, decide

F1 = GatePolicy(metric="f1", threshold=0.8, min_improvement=0.01)
RMSE = GatePolicy(metric="rmse", threshold=5.0, min_improvement=0.5)


def test_a_first_model_needs_only_the_threshold() -> None:
    decision = decide(F1, {"f1": 0.85}, None)
    assert decision.passed and decision.verdict == "passed"
    assert decision.reason == "f1 0.8500 meets the minimum 0.8000; no champion to compare"
    assert decision.champion_value is None


def test_below_the_threshold_fails_even_without_a_champion() -> None:
    decision = decide(F1, {"f1": 0.75}, None)
    assert not decision.passed and decision.verdict == "failed"
    assert decision.reason == "f1 0.7500 misses the minimum 0.8000"


@pytest.mark.parametrize(
    ("candidate", "champion", "passed"),
    [(0.90, 0.88, True), (0.90, 0.89, True), (0.90, 0.895, False), (0.85, 0.90, False)],
)
def test_improvement_over_the_champion(candidate: float, champion: float, passed: bool) -> None:
    decision = decide(F1, {"f1": candidate}, {"f1": champion})
    assert decision.passed is passed
    assert decision.champion_value == champion
    assert ("improves on champion" in decision.reason) is passed


def test_error_metrics_are_better_when_smaller() -> None:
    assert decide(RMSE, {"rmse": 4.0}, None).passed
    assert decide(RMSE, {"rmse": 6.0}, None).reason == "rmse 6.0000 misses the maximum 5.0000"
    assert decide(RMSE, {"rmse": 3.0}, {"rmse": 4.0}).passed
    failed = decide(RMSE, {"rmse": 3.8}, {"rmse": 4.0})
    assert not failed.passed and "improvement +0.2000 is below the required +0.5000" in failed.reason


def test_a_metric_missing_for_the_task_fails_with_a_reason() -> None:
    decision = decide(GatePolicy(metric="roc_auc", threshold=0.5), {"f1": 0.9}, None)
    assert not decision.passed and decision.reason == "metric roc_auc was not computed for this task"


def test_a_champion_without_the_metric_is_not_compared() -> None:
    assert decide(F1, {"f1": 0.85}, {"r2": 0.1}).passed


def test_check_metric_names_the_known_ones() -> None:
    check_metric("")
    for metric in HIGHER_IS_BETTER:
        check_metric(metric)
    with pytest.raises(KubeloopError, match="unknown metric 'auc'.*roc_auc"):
        check_metric("auc")
