"""The quality check: Inconclusive while labels are few, Pass when non-inferior, Fail when worse."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kubeloop.analysis.quality_check import judge_quality
from kubeloop.analysis.results import Verdict
from kubeloop.spec import CheckSpec

CHECK = CheckSpec(name="quality", kind="quality", threshold=0.01, min_labels=200)


def labeled(n: int, *, champion: float, challenger: float, seed: int = 0, paired: bool = True,
            shared: float = 0.9) -> pd.DataFrame:
    """Labeled answers of versions 1 (champion) and 2 (shadow) on n requests with given accuracies.

    The challenger repeats the champion's answer on a `shared` share of requests (models agree a lot).
    """
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n)
    right_a = rng.random(n) < champion
    again = rng.random(n) < shared
    improved = right_a | (rng.random(n) < (challenger - champion) * 2)
    right_b = np.where(again & (challenger >= champion), improved, rng.random(n) < challenger)
    rows = []
    for version, role, right in (("1", "champion", right_a), ("2", "shadow", right_b)):
        ids = [f"r{i}" for i in range(n)] if paired or version == "1" else [f"s{i}" for i in range(n)]
        rows.append(pd.DataFrame({"request_id": ids, "row": 0, "version": version, "role": role,
                                  "prediction": np.where(right, truth, 1 - truth), "label": truth,
                                  "weight": 1.0}))
    return pd.concat(rows, ignore_index=True)


def test_too_few_labels_is_inconclusive_naming_the_count() -> None:
    few = labeled(50, champion=0.9, challenger=0.5)
    result = judge_quality(CHECK, labeled=few, champion="1", challenger="2")
    assert result.verdict is Verdict.INCONCLUSIVE
    assert result.reason == "50 labeled pairs, fewer than the 200 needed"
    empty = judge_quality(CHECK, labeled=pd.DataFrame(), champion="1", challenger="2")
    assert empty.verdict is Verdict.INCONCLUSIVE and empty.samples == 0


def test_a_worse_challenger_fails_by_mcnemar() -> None:
    result = judge_quality(CHECK, labeled=labeled(400, champion=0.95, challenger=0.6), champion="1",
                           challenger="2")
    assert result.verdict is Verdict.FAIL and "worse than the champion" in result.reason
    assert "McNemar exact" in result.reason and result.value is not None and result.value < -0.01
    assert result.samples == 400 and result.threshold == 0.01


def test_an_equal_or_better_challenger_passes_once_its_interval_clears_the_margin() -> None:
    better = judge_quality(CHECK, labeled=labeled(1000, champion=0.8, challenger=0.9), champion="1",
                           challenger="2")
    assert better.verdict is Verdict.PASS and "not worse by more than 0.01" in better.reason
    same = labeled(3000, champion=0.9, challenger=0.9, shared=1.0)
    assert judge_quality(CHECK, labeled=same, champion="1", challenger="2").verdict is Verdict.PASS


def test_a_close_call_stays_inconclusive() -> None:
    close = labeled(300, champion=0.9, challenger=0.89, shared=0.5, seed=4)
    result = judge_quality(CHECK, labeled=close, champion="1", challenger="2")
    assert result.verdict is Verdict.INCONCLUSIVE and "not yet within 0.01" in result.reason


def test_without_pairs_the_versions_are_compared_on_their_own_requests() -> None:
    canary = labeled(500, champion=0.95, challenger=0.5, paired=False)
    result = judge_quality(CHECK, labeled=canary, champion="1", challenger="2")
    assert result.verdict is Verdict.FAIL and "unpaired Wald" in result.reason
    assert "requests per version" in result.reason


@pytest.mark.parametrize("metric", ["log-loss", "rmse"])
def test_a_metric_the_answers_cannot_give_is_inconclusive_with_the_reason(metric: str) -> None:
    check = CheckSpec(name="quality", kind="quality", threshold=0.01, min_labels=10, metric=metric)
    rows = labeled(100, champion=0.9, challenger=0.9)
    result = judge_quality(check, labeled=rows, champion="1", challenger="2")
    assert result.verdict is Verdict.INCONCLUSIVE
    assert ("probabilities" if metric == "log-loss" else "regression metric") in result.reason


def test_the_spec_refuses_a_negative_margin_naming_the_field() -> None:
    from kubeloop.errors import SpecError
    from kubeloop.spec import parse_deployment

    body = {"apiVersion": "kubeloop.io/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": "iris"},
            "spec": {"model": {"name": "m"}, "rollout": {"checks": [
                {"name": "q", "kind": "quality", "threshold": -0.1}]}}}
    with pytest.raises(SpecError, match=r"spec.rollout.checks\[0\]: a quality check's threshold"):
        parse_deployment(body)
    body["spec"]["rollout"]["checks"] = [{"name": "q", "kind": "quality", "threshold": 0.01, "metric": "auc"}]
    with pytest.raises(SpecError, match=r"spec.rollout.checks\[0\].metric"):
        parse_deployment(body)
