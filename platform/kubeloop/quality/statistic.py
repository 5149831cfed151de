"""Weighted estimates with intervals that hold for weighted data: every metric is a smooth function of
weighted column totals, so one linearization (delta method) gives every interval.

A metric is a `Statistic`: per-row columns `x_i` (m of them) and a function `value(T)` of their
weighted totals `T = sum_i w_i x_i`, with w_i = 1 / inclusion probability. Every metric here is a
ratio of such totals (accuracy = sum w*correct / sum w), so it does not change when all weights are
scaled, and its influence is `u_i = J x_i` with J the Jacobian of `value` at T. The variance is the
with-replacement (sandwich) estimate `n/(n-1) sum_i w_i^2 u_i^2`: it accounts for unequal weights
and holds for the population the requests are drawn from. Proportions get a Wilson interval on the
effective sample size the variance implies (better than Wald near 0 and 1); a metric that is not
smooth (calibration error) gets a bootstrap. Written over numpy rather than with scikit-learn
metrics because one pass gives the estimate and its interval (`bench/bench_labels.py`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import norm

Array = np.ndarray[Any, np.dtype[np.float64]]
_COUNTS_BUDGET = 32 << 20  # bytes of resampled row counts held at once
_ROW_CHUNK = 8192


@dataclass(frozen=True, kw_only=True)
class Estimate:
    """A point estimate and its confidence interval (NaN when the metric is undefined on the data)."""

    value: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float | None]:
        """JSON-friendly: NaN as None."""
        return {k: None if math.isnan(v) else v for k, v in
                (("value", self.value), ("low", self.low), ("high", self.high))}


@dataclass(frozen=True, kw_only=True)
class Statistic:
    """One or more metrics as functions of the weighted totals of per-row columns (see the module)."""

    names: tuple[str, ...]
    columns: Array  # (rows, m)
    value: Callable[[Array], Array]  # (..., m) -> (..., len(names))
    bounded: bool = False  # proportions in [0, 1]
    smooth: bool = True  # False: the interval comes from the bootstrap


def z_value(confidence: float) -> float:
    """The two-sided normal quantile for a confidence level (1.96 for 0.95)."""
    return float(norm.ppf(0.5 + confidence / 2))


def point(stat: Statistic, weights: Array) -> Array:
    """The metrics' values on the weighted data."""
    return np.asarray(stat.value(weights @ stat.columns), dtype=float)


def jacobian(stat: Statistic, totals: Array) -> Array:
    """d value / d totals at `totals`, by central differences (every value is a smooth ratio)."""
    m = totals.shape[0]
    step = 1e-6 * np.maximum(np.abs(totals), np.abs(totals).max() or 1.0)
    shifts = np.eye(m) * step
    ahead, behind = stat.value(totals + shifts), stat.value(totals - shifts)  # (m, q) each
    return np.asarray((ahead - behind) / (2 * step[:, None]), dtype=float).T  # (q, m)


def linearized_se(stat: Statistic, weights: Array) -> Array:
    """Standard errors from the influence of each row (with-replacement variance, see the module)."""
    rows = len(weights)
    if rows < 2:
        return np.full(len(stat.names), np.nan)
    influence = stat.columns @ jacobian(stat, weights @ stat.columns).T  # (rows, q)
    variance = (weights**2) @ (influence**2) * rows / (rows - 1)
    return np.asarray(np.sqrt(variance), dtype=float)


def kish(weights: Array) -> float:
    """The effective sample size of weighted rows: (sum w)^2 / sum w^2."""
    total = float(weights.sum())
    return total * total / float((weights**2).sum()) if total > 0 else 0.0


def interval(value: float, se: float, *, z: float, bounded: bool, effective: float) -> Estimate:
    """Normal interval, or Wilson's on the effective size the standard error implies for a proportion."""
    if not math.isfinite(value) or not math.isfinite(se):
        return Estimate(value=value, low=math.nan, high=math.nan)
    if not bounded:
        return Estimate(value=value, low=value - z * se, high=value + z * se)
    inner = 0.0 < value < 1.0 and se > 0
    n = value * (1 - value) / se**2 if inner else effective
    if n <= 0:
        return Estimate(value=value, low=math.nan, high=math.nan)
    centre = (value + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(value * (1 - value) / n + z * z / (4 * n * n))
    return Estimate(value=value, low=max(0.0, centre - half), high=min(1.0, centre + half))


def bootstrap_totals(columns: Array, weights: Array, *, replicates: int, seed: int) -> Array:
    """Totals over `replicates` resamples of the rows with replacement (Efron's bootstrap): (replicates, m).

    Each resample's row counts come from one draw of n indices (cheaper than Poisson multiplicities);
    blocks of them, one byte per row, go through one matrix product per chunk of rows.
    """
    rng = np.random.default_rng(seed)
    rows = len(weights)
    weighted = columns * weights[:, None]
    totals = np.empty((replicates, columns.shape[1]))
    block = max(1, _COUNTS_BUDGET // max(rows, 1))
    for start in range(0, replicates, block):
        size = min(block, replicates - start)
        counts = np.empty((size, rows), dtype=np.uint8)  # a row drawn 256 times in n draws: never
        for index in range(size):
            counts[index] = np.bincount(rng.integers(0, rows, size=rows), minlength=rows)
        totals[start:start + size] = sum(
            counts[:, lo:lo + _ROW_CHUNK].astype(np.float64) @ weighted[lo:lo + _ROW_CHUNK]
            for lo in range(0, rows, _ROW_CHUNK)
        )
    return totals


def percentile_bounds(draws: Array, *, confidence: float) -> tuple[Array, Array]:
    """The percentile interval of bootstrap draws (replicates, q), ignoring undefined replicates."""
    tail = 50 * (1 - confidence)
    with np.errstate(all="ignore"):
        return np.nanpercentile(draws, tail, axis=0), np.nanpercentile(draws, 100 - tail, axis=0)


def estimate(
    stat: Statistic, weights: Array, *, confidence: float, replicates: int = 200, seed: int = 0
) -> dict[str, Estimate]:
    """Each metric of `stat` with its interval: linearized when smooth, bootstrapped otherwise."""
    with np.errstate(divide="ignore", invalid="ignore"):
        values = point(stat, weights)
        if not stat.smooth:
            draws = stat.value(bootstrap_totals(stat.columns, weights, replicates=replicates, seed=seed))
            low, high = percentile_bounds(draws, confidence=confidence)
            return {name: Estimate(value=float(v), low=float(lo), high=float(hi))
                    for name, v, lo, hi in zip(stat.names, values, low, high, strict=True)}
        errors = linearized_se(stat, weights)
    z, effective = z_value(confidence), kish(weights)
    return {name: interval(float(v), float(se), z=z, bounded=stat.bounded, effective=effective)
            for name, v, se in zip(stat.names, values, errors, strict=True)}
