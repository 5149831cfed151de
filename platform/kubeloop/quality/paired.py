"""Challenger against champion on labeled requests: the improvement with its interval and a test.

Paired, when both answered the same requests (shadow): accuracy by McNemar's exact test on the
discordant pairs when every pair weighs the same (uniform sampling), or its weighted Wald form when
weights differ, with the linearized interval of the paired difference; other metrics by a paired
bootstrap of the difference. Unpaired (canary requests answered by one or the other): the
difference of two independent linearized estimates. The improvement is oriented so that positive
means the challenger is better (for losses: the champion's loss minus the challenger's).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binom, norm

from kubeloop.labels.join import KEYS
from kubeloop.quality import classification, regression
from kubeloop.quality.data import Task, classes_of, classified, regressed, task_of, weights_of
from kubeloop.quality.statistic import (
    Array,
    Estimate,
    Statistic,
    bootstrap_totals,
    interval,
    kish,
    linearized_se,
    percentile_bounds,
    point,
    z_value,
)

HIGHER_IS_BETTER = frozenset({"accuracy", "macro-f1", "r2"})
REGRESSION_METRICS = frozenset(regression.METRICS)


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """How much better the challenger is, with the interval, the test and its one-sided p of "worse"."""

    metric: str
    pairs: int
    champion: float
    challenger: float
    improvement: Estimate
    p_worse: float
    test: str


def mcnemar(worse: Any, better: Any) -> tuple[Any, Any]:
    """McNemar's exact test on discordant counts (vectorised): (two-sided p, one-sided p of "worse").

    `worse`: pairs the champion got right and the challenger wrong; `better`: the other way round.
    """
    worse, better = np.asarray(worse), np.asarray(better)
    total = worse + better
    one_sided = binom.sf(worse - 1, total, 0.5)
    two_sided = np.minimum(1.0, 2 * binom.cdf(np.minimum(worse, better), total, 0.5))
    return np.where(total > 0, two_sided, 1.0), np.where(total > 0, one_sided, 1.0)


def metric_statistic(metric: str, frame: pd.DataFrame, *, task: Task, classes: tuple[str, ...]) -> Statistic:
    """The `Statistic` of one named metric on one model's rows."""
    if task == "regression":
        if metric not in REGRESSION_METRICS:
            raise ValueError(f"{metric} is a classification metric; this deployment serves a regressor")
        return regression.METRICS[metric](regressed(frame))
    if metric in REGRESSION_METRICS:
        raise ValueError(f"{metric} is a regression metric; this deployment serves a classifier")
    stat = classification.METRICS[metric](classified(frame, classes=classes))
    if stat is None:
        raise ValueError(f"{metric} needs class probabilities, which these answers do not carry")
    return stat


def pair_up(champion: pd.DataFrame, challenger: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of both on the same labeled (request, row), aligned."""
    left = champion.drop_duplicates(KEYS).set_index(KEYS)
    right = challenger.drop_duplicates(KEYS).set_index(KEYS)
    both = left.index.intersection(right.index)
    return left.loc[both].reset_index(), right.loc[both].reset_index()


def compare_paired(
    champion: pd.DataFrame, challenger: pd.DataFrame, *, metric: str, confidence: float,
    replicates: int = 1000, seed: int = 0,
) -> Comparison:
    """Compare on the labeled requests both answered (rows of each as `kubeloop.labels.join` gives them)."""
    a, b = pair_up(champion, challenger)
    task = task_of(pd.concat([a, b]))
    classes = classes_of([a, b]) if task == "classification" else ()
    stat_a, stat_b = (metric_statistic(metric, f, task=task, classes=classes) for f in (a, b))
    weights = weights_of(a)
    sign = 1.0 if metric in HIGHER_IS_BETTER else -1.0
    difference = paired_difference(stat_a, stat_b, sign=sign)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = float(point(stat_a, weights)[0]), float(point(stat_b, weights)[0])
    if metric == "accuracy":
        improvement, p_worse, test = _accuracy_test(difference, weights, confidence=confidence)
    else:
        improvement, p_worse = _bootstrap_test(difference, weights, observed=sign * (values[1] - values[0]),
                                               confidence=confidence, replicates=replicates, seed=seed)
        test = "paired bootstrap"
    return Comparison(metric=metric, pairs=len(a), champion=values[0], challenger=values[1],
                      improvement=improvement, p_worse=p_worse, test=test)


def paired_difference(a: Statistic, b: Statistic, *, sign: float) -> Statistic:
    """The challenger's metric minus the champion's (signed), as one statistic of both sets of columns."""
    width = a.columns.shape[1]
    value_a: Callable[[Array], Array] = a.value
    value_b: Callable[[Array], Array] = b.value

    def value(t: Array) -> Array:
        with np.errstate(divide="ignore", invalid="ignore"):
            return sign * (value_b(t[..., width:]) - value_a(t[..., :width]))

    return Statistic(names=("improvement",), columns=np.hstack([a.columns, b.columns]), value=value)


def _bootstrap_test(difference: Statistic, weights: Array, *, observed: float, confidence: float,
                    replicates: int, seed: int) -> tuple[Estimate, float]:
    """The percentile interval of the paired difference and the bootstrap's share of "not worse"."""
    draws = difference.value(bootstrap_totals(difference.columns, weights, replicates=replicates, seed=seed))
    low, high = percentile_bounds(draws, confidence=confidence)
    p_worse = (1 + int(np.sum(draws[:, 0] >= 0))) / (replicates + 1)
    return Estimate(value=observed, low=float(low[0]), high=float(high[0])), p_worse


def _accuracy_test(
    difference: Statistic, weights: Array, *, confidence: float
) -> tuple[Estimate, float, str]:
    # Accuracy's first column is "predicted right"; the challenger's columns follow the champion's.
    width = difference.columns.shape[1] // 2
    right_a, right_b = difference.columns[:, 0] > 0.5, difference.columns[:, width] > 0.5
    value = float(point(difference, weights)[0])
    se = float(linearized_se(difference, weights)[0])
    improvement = interval(value, se, z=z_value(confidence), bounded=False, effective=kish(weights))
    if np.ptp(weights) == 0:
        _, exact = mcnemar(int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b)))
        return improvement, float(exact), "McNemar exact"
    return improvement, _wald_p_worse(value, se), "weighted McNemar (Wald)"


def _wald_p_worse(value: float, se: float) -> float:
    """One-sided p of "worse" for an improvement estimate with its standard error."""
    return float(norm.cdf(value / se)) if se > 0 else (0.0 if value < 0 else 1.0)


def compare_unpaired(
    champion: pd.DataFrame, challenger: pd.DataFrame, *, metric: str, confidence: float
) -> Comparison:
    """Compare on different labeled requests (canary): independent estimates, variances added."""
    task = task_of(pd.concat([champion, challenger]))
    classes = classes_of([champion, challenger]) if task == "classification" else ()
    sign = 1.0 if metric in HIGHER_IS_BETTER else -1.0
    found = []
    for frame in (champion, challenger):
        stat, weights = metric_statistic(metric, frame, task=task, classes=classes), weights_of(frame)
        with np.errstate(divide="ignore", invalid="ignore"):
            found.append((float(point(stat, weights)[0]), float(linearized_se(stat, weights)[0])))
    (value_a, se_a), (value_b, se_b) = found
    value, se = sign * (value_b - value_a), math.hypot(se_a, se_b)
    improvement = interval(value, se, z=z_value(confidence), bounded=False, effective=0.0)
    return Comparison(metric=metric, pairs=0, champion=value_a, challenger=value_b, improvement=improvement,
                      p_worse=_wald_p_worse(value, se), test="unpaired Wald")
