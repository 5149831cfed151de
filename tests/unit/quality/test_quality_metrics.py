"""Weighted point estimates agree with scikit-learn's; the online report and the paired comparisons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk

from kubeloop.quality.online import online_quality
from kubeloop.quality.paired import compare_paired, compare_unpaired

CLASSES = np.array(["cat", "dog", "fox"])


def classifier_rows(seed: int, n: int, *, skill: float = 1.5, classes: np.ndarray = CLASSES,
                    version: str = "1") -> pd.DataFrame:
    """Labeled rows the way kubeloop.labels.join gives them, with probabilities and unequal weights."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, len(classes), n)
    logits = rng.normal(size=(n, len(classes)))
    logits[np.arange(n), truth] += skill
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    frame = pd.DataFrame({
        "request_id": [f"r{i}" for i in range(n)], "row": 0, "version": version, "role": "champion",
        "prediction": classes[probabilities.argmax(axis=1)], "label": classes[truth],
        "weight": rng.uniform(1.0, 20.0, n),
    })
    for index, name in enumerate(classes):
        frame[f"probability.{name}"] = probabilities[:, index]
    return frame


@pytest.mark.parametrize("classes", [CLASSES, np.array(["no", "yes"])])
def test_weighted_classification_metrics_equal_scikit_learns(classes: np.ndarray) -> None:
    frame = classifier_rows(0, 3000, classes=classes)
    (report,) = online_quality(frame)
    truth, predicted, weights = frame["label"], frame["prediction"], frame["weight"]
    probabilities = frame[[f"probability.{c}" for c in classes]].to_numpy()
    got = {name: estimate.value for name, estimate in report.metrics.items()}
    weighted = {"sample_weight": weights}
    assert got["accuracy"] == pytest.approx(sk.accuracy_score(truth, predicted, **weighted))
    assert got["macro-f1"] == pytest.approx(sk.f1_score(truth, predicted, average="macro", **weighted))
    assert got["log-loss"] == pytest.approx(sk.log_loss(truth, probabilities, labels=classes, **weighted))
    brier = sk.brier_score_loss(truth, probabilities if len(classes) > 2 else probabilities[:, 1],
                                labels=classes, pos_label=classes[-1], sample_weight=weights)
    assert got["brier"] == pytest.approx(brier)
    precision, recall, f1, _ = sk.precision_recall_fscore_support(truth, predicted, labels=classes,
                                                                   sample_weight=weights)
    for index, name in enumerate(classes):
        assert report.per_class["precision"][name].value == pytest.approx(precision[index])
        assert report.per_class["recall"][name].value == pytest.approx(recall[index])
        assert report.per_class["f1"][name].value == pytest.approx(f1[index])
    for estimate in report.metrics.values():
        assert estimate.low <= estimate.value <= estimate.high


def test_expected_calibration_error_matches_its_definition_and_has_a_bootstrap_interval() -> None:
    frame = classifier_rows(1, 4000)
    (report,) = online_quality(frame)
    probabilities = frame[[f"probability.{c}" for c in CLASSES]].to_numpy()
    confidence, weights = probabilities.max(axis=1), frame["weight"].to_numpy()
    right = (CLASSES[probabilities.argmax(axis=1)] == frame["label"]).to_numpy()
    bins = np.minimum((confidence * 15).astype(int), 14)
    expected = sum(abs(np.sum(weights[bins == b] * (right[bins == b] - confidence[bins == b])))
                   for b in range(15)) / weights.sum()
    ece = report.metrics["ece"]
    assert ece.value == pytest.approx(expected)
    assert ece.low < ece.value < ece.high


def test_weighted_regression_metrics_equal_scikit_learns() -> None:
    rng = np.random.default_rng(3)
    truth = rng.normal(10, 3, 2000)
    frame = pd.DataFrame({"request_id": [f"r{i}" for i in range(2000)], "row": 0, "version": "4",
                          "role": "shadow", "label": truth, "prediction": truth + rng.normal(0, 1, 2000),
                          "weight": rng.uniform(1, 5, 2000)})
    (report,) = online_quality(frame)
    weights = frame["weight"]
    assert report.task == "regression" and report.role == "shadow"
    assert report.metrics["mae"].value == pytest.approx(
        sk.mean_absolute_error(truth, frame["prediction"], sample_weight=weights))
    assert report.metrics["rmse"].value == pytest.approx(
        np.sqrt(sk.mean_squared_error(truth, frame["prediction"], sample_weight=weights)))
    r2 = sk.r2_score(truth, frame["prediction"], sample_weight=weights)
    assert report.metrics["r2"].value == pytest.approx(r2)
    assert report.metrics["r2"].low < report.metrics["r2"].value < report.metrics["r2"].high


def paired(champion_skill: float, challenger_skill: float, n: int, *,
           weighted: bool) -> tuple[pd.DataFrame, ...]:
    champion = classifier_rows(5, n, skill=champion_skill)
    challenger = classifier_rows(5, n, skill=challenger_skill, version="2")  # same truth, same requests
    if not weighted:
        champion["weight"] = challenger["weight"] = 1.0
    else:
        challenger["weight"] = champion["weight"]
    return champion, challenger


def test_a_worse_challenger_is_worse_by_mcnemar_and_the_interval_and_a_copy_is_not() -> None:
    champion, worse = paired(2.0, 0.5, 600, weighted=False)
    found = compare_paired(champion, worse, metric="accuracy", confidence=0.95)
    assert found.test == "McNemar exact" and found.pairs == 600
    assert found.improvement.high < 0 and found.p_worse < 1e-6
    same = compare_paired(champion, champion.assign(version="2"), metric="accuracy", confidence=0.95)
    assert same.improvement.value == 0 and same.p_worse == 1.0


def test_weighted_pairs_use_the_wald_form_and_other_metrics_the_paired_bootstrap() -> None:
    champion, better = paired(0.5, 2.0, 800, weighted=True)
    found = compare_paired(champion, better, metric="accuracy", confidence=0.95)
    assert found.test == "weighted McNemar (Wald)" and found.improvement.low > 0 and found.p_worse > 0.99
    loss = compare_paired(champion, better, metric="log-loss", confidence=0.95, replicates=300)
    assert loss.test == "paired bootstrap" and loss.improvement.low > 0  # lower loss is better
    assert loss.challenger < loss.champion


def test_unpaired_comparison_of_canary_requests_and_metrics_that_do_not_apply() -> None:
    champion = classifier_rows(6, 500, skill=2.0)
    challenger = classifier_rows(7, 500, skill=0.3, version="2")
    found = compare_unpaired(champion, challenger, metric="macro-f1", confidence=0.95)
    assert found.pairs == 0 and found.improvement.high < 0 and found.p_worse < 0.001
    with pytest.raises(ValueError, match="regression metric"):
        compare_unpaired(champion, challenger, metric="rmse", confidence=0.95)
    without = champion.drop(columns=[f"probability.{c}" for c in CLASSES])
    with pytest.raises(ValueError, match="needs class probabilities"):
        compare_paired(without, without.assign(version="2"), metric="brier", confidence=0.95)
