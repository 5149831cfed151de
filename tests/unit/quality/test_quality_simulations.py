"""The statistics checked by simulation on synthetic streams whose true quality is known.

Each stream is a day of requests to an imbalanced classifier (5% of answers are the rare class, which
it gets right far less often) or a regressor with noise that grows with the input; labels are a
non-uniform sample of it. Over 400 seeds the weighted estimate must centre on the truth while the
unweighted one misses it, and the 95% intervals must cover the truth 93-97% of the time.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from kubeloop.quality.classification import Classified, accuracy, macro_f1
from kubeloop.quality.paired import mcnemar, paired_difference
from kubeloop.quality.regression import Regressed, mae
from kubeloop.quality.statistic import Estimate, Statistic, estimate

SEEDS = 400
REQUESTS = 20_000
RARE = 0.05
# Accuracy: common answers right with probability q ~ U(0.5, 1) (mean 0.75), rare ones q - 0.3 (0.45).
TRUE_ACCURACY = (1 - RARE) * 0.75 + RARE * 0.45


def classifier_stream(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(predicted class, top probability, true class) of n requests."""
    predicted = (rng.random(n) < RARE).astype(int)
    top = rng.uniform(0.5, 1.0, n)
    right = rng.random(n) < np.where(predicted == 1, top - 0.3, top)
    return predicted, top, np.where(right, predicted, 1 - predicted)


def inclusion(policy: str, predicted: np.ndarray, top: np.ndarray) -> np.ndarray:
    """The labeling policies as kubeloop.labels.policy computes them for two classes."""
    if policy == "stratified":  # all of the rare class, 2% of the common one
        return np.where(predicted == 1, 1.0, 0.02)
    return 0.02 + (0.3 - 0.02) * (1 - top) / 0.5  # uncertainty: rate 0.02, maxRate 0.3


def sampled(policy: str, seed: int) -> tuple[Classified, np.ndarray]:
    rng = np.random.default_rng(seed)
    predicted, top, truth = classifier_stream(rng, REQUESTS)
    probability = inclusion(policy, predicted, top)
    take = rng.random(REQUESTS) < probability
    data = Classified(classes=("common", "rare"), truth=truth[take], predicted=predicted[take])
    return data, 1 / probability[take]


def run(policy: str, metric: str, truth: float, build: object = accuracy) -> dict[str, float]:
    weighted, unweighted, covered = [], [], 0
    for seed in range(SEEDS):
        data, weights = sampled(policy, seed)
        stat: Statistic = build(data)  # type: ignore[operator]
        found = estimate(stat, weights, confidence=0.95)[metric]
        weighted.append(found.value)
        unweighted.append(estimate(stat, np.ones_like(weights), confidence=0.95)[metric].value)
        covered += found.low <= truth <= found.high
    spread = float(np.std(weighted)) / math.sqrt(SEEDS)
    return {"bias": float(np.mean(weighted)) - truth, "spread": spread,
            "unweighted_bias": float(np.mean(unweighted)) - truth, "coverage": covered / SEEDS}


@pytest.mark.parametrize("policy", ["stratified", "uncertainty"])
def test_weighted_accuracy_is_unbiased_and_covers_while_the_unweighted_one_is_biased(policy: str) -> None:
    found = run(policy, "accuracy", TRUE_ACCURACY)
    assert abs(found["bias"]) < 3 * found["spread"], found
    assert abs(found["unweighted_bias"]) > max(20 * found["spread"], 0.05), found
    assert 0.93 <= found["coverage"] <= 0.97, found


def census_macro_f1() -> float:
    """The stream's macro F1, from four million requests (its own error is under 0.001)."""
    predicted, _, truth = classifier_stream(np.random.default_rng(10_000), 4_000_000)
    data = Classified(classes=("common", "rare"), truth=truth, predicted=predicted)
    return estimate(macro_f1(data), np.ones(len(truth)), confidence=0.95)["macro-f1"].value


def test_weighted_macro_f1_under_stratified_sampling_is_unbiased_and_covers() -> None:
    truth = census_macro_f1()
    found = run("stratified", "macro-f1", truth, build=macro_f1)
    assert abs(found["bias"]) < 3 * found["spread"] + 0.001, found
    assert abs(found["unweighted_bias"]) > 20 * found["spread"] + 0.001, found
    assert 0.93 <= found["coverage"] <= 0.97, found


def test_weighted_mae_of_a_regressor_sampled_by_its_prediction_is_unbiased_and_covers() -> None:
    # y = x + noise with sd 0.2 + x (x ~ U(0, 1)): MAE = E[sd] * sqrt(2 / pi) = 0.7 * sqrt(2 / pi).
    truth = 0.7 * math.sqrt(2 / math.pi)
    estimates, unweighted, covered = [], [], 0
    for seed in range(SEEDS):
        rng = np.random.default_rng(seed)
        x = rng.random(REQUESTS)
        y = x + rng.normal(0.0, 0.2 + x)
        probability = np.where(x > 0.8, 0.5, 0.02)  # large answers labeled far more often
        take = rng.random(REQUESTS) < probability
        stat = mae(Regressed(truth=y[take], predicted=x[take]))
        found = estimate(stat, 1 / probability[take], confidence=0.95)["mae"]
        estimates.append(found.value)
        unweighted.append(estimate(stat, np.ones(int(take.sum())), confidence=0.95)["mae"].value)
        covered += found.low <= truth <= found.high
    spread = float(np.std(estimates)) / math.sqrt(SEEDS)
    assert abs(np.mean(estimates) - truth) < 3 * spread
    assert np.mean(unweighted) - truth > 0.1
    assert 0.93 <= covered / SEEDS <= 0.97


def test_the_paired_difference_interval_covers_the_true_difference_under_stratified_sampling() -> None:
    # The challenger answers like the champion except on a random 10% of requests, where it flips the
    # answer: its accuracy is 0.9 * acc + 0.1 * (1 - acc), a difference of 0.1 - 0.2 * acc.
    truth = 0.1 - 0.2 * TRUE_ACCURACY
    covered, estimates = 0, []
    for seed in range(SEEDS):
        rng = np.random.default_rng(seed)
        predicted, top, real = classifier_stream(rng, REQUESTS)
        flipped = np.where(rng.random(REQUESTS) < 0.1, 1 - predicted, predicted)
        probability = inclusion("stratified", predicted, top)
        take = rng.random(REQUESTS) < probability
        champion = Classified(classes=("common", "rare"), truth=real[take], predicted=predicted[take])
        challenger = Classified(classes=("common", "rare"), truth=real[take], predicted=flipped[take])
        found = compare_classified(champion, challenger, 1 / probability[take])
        estimates.append(found.value)
        covered += found.low <= truth <= found.high
    assert abs(np.mean(estimates) - truth) < 3 * np.std(estimates) / math.sqrt(SEEDS)
    assert 0.93 <= covered / SEEDS <= 0.97


def compare_classified(champion: Classified, challenger: Classified, weights: np.ndarray) -> Estimate:
    """The paired accuracy difference as `compare_paired` builds it, on encoded arrays."""
    both = paired_difference(accuracy(champion), accuracy(challenger), sign=1.0)
    return estimate(both, weights, confidence=0.95)["improvement"]


# McNemar's exact test, vectorised over simulated label sets: counts of (champion right, challenger
# wrong), (champion wrong, challenger right) and the rest, with independent errors.
TRIALS = 4000


def discordant(rng: np.random.Generator, labels: int, champion: float, challenger: float) -> np.ndarray:
    worse, better = champion * (1 - challenger), (1 - champion) * challenger
    return rng.multinomial(labels, [worse, better, 1 - worse - better], size=TRIALS)


def test_mcnemar_on_equally_accurate_models_rejects_at_most_at_its_nominal_rate() -> None:
    counts = discordant(np.random.default_rng(1), 600, 0.85, 0.85)
    two_sided, _ = mcnemar(counts[:, 0], counts[:, 1])
    rate = float(np.mean(two_sided < 0.05))
    assert rate <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / TRIALS), rate


def test_mcnemar_detects_a_five_point_drop_at_800_labels_with_80_percent_power() -> None:
    counts = discordant(np.random.default_rng(2), 800, 0.90, 0.85)
    _, worse = mcnemar(counts[:, 0], counts[:, 1])
    assert float(np.mean(worse < 0.025)) >= 0.80
