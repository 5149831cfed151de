"""Two-sample tests per column and the multiple-testing corrections applied across features.

KS for numeric columns and a two-sample chi-square (contingency) test for categories: unlike
Evidently's default `chisquare`, which treats the reference proportions as exact (a goodness-of-fit
test), the contingency test accounts for the reference's own sampling noise, so identical
distributions are flagged at the nominal rate. Any other Evidently method named per feature runs
through Evidently's own implementation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

KS = "ks"
CHI2_2SAMP = "chisquare_2samp"
CHI2_BINNED = "chisquare_2samp_binned"
# Evidently stat tests whose score is a p-value (drift when below the threshold); the others are
# distances (drift when above), which no multiple-testing correction applies to.
P_VALUE_METHODS = frozenset(
    {
        KS,
        CHI2_2SAMP,
        CHI2_BINNED,
        "chisquare",
        "z",
        "t_test",
        "mannw",
        "anderson",
        "cramer_von_mises",
        "epps_singleton",
        "fisher_exact",
        "g_test",
        "perc_text_content_drift",
        "abs_text_content_drift",
    }
)
Correction = Literal["bh", "holm", "none"]


# scipy's ks_2samp switches from the exact distribution to the asymptotic one above this size.
KS_EXACT_MAX = 10_000


def ks_statistic(reference: np.ndarray, current: np.ndarray) -> float:
    """The two-sample KS distance sup|F1 - F2| over every observation of both samples.

    F1 is constant between consecutive points of the first sample while F2 only grows, so among
    the second sample's points the extremes of F1 - F2 sit next to the first sample's points: only
    those few are evaluated, and the cost is one sort of the larger sample.
    """
    a, b = np.sort(reference), np.sort(current)
    m, n = a.size, b.size
    at_a = np.searchsorted(a, a, side="right") / m - np.searchsorted(b, a, side="right") / n
    edges = np.concatenate([np.searchsorted(b, a, side="left"), np.searchsorted(b, a, side="right")])
    candidates = np.clip(np.concatenate([edges, edges - 1, [0, n - 1]]), 0, n - 1)
    points = b[candidates]
    at_b = np.searchsorted(a, points, side="right") / m - np.searchsorted(b, points, side="right") / n
    return float(max(np.abs(at_a).max(), np.abs(at_b).max()))


def ks_pvalue(reference: np.ndarray, current: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov p-value, equal to scipy's `ks_2samp` (Evidently's `ks`).

    Small samples go to scipy (exact distribution). For large ones scipy uses Smirnov's asymptotic
    distribution, as here, but evaluates the ECDFs at all merged points; `ks_statistic` gets the same
    distance from a handful of points, several times faster on a 1M-row window.
    """
    n1, n2 = reference.size, current.size
    if n1 == 0 or n2 == 0:
        return 1.0
    if max(n1, n2) <= KS_EXACT_MAX:
        return float(stats.ks_2samp(reference, current)[1])
    m, n = sorted((float(n1), float(n2)), reverse=True)
    p_value = stats.kstwo.sf(ks_statistic(reference, current), np.round(m * n / (m + n)))
    return float(np.clip(p_value, 0.0, 1.0))


def contingency_pvalue(reference: Mapping[str, int], current: Mapping[str, int]) -> float:
    """Two-sample chi-square p-value on the 2 x K table of category counts (categories seen anywhere)."""
    keys = sorted(set(reference) | set(current))
    table = np.array([[reference.get(k, 0) for k in keys], [current.get(k, 0) for k in keys]], dtype=float)
    table = _merge_sparse_columns(table[:, table.sum(axis=0) > 0])
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 1.0
    return float(stats.chi2_contingency(table, correction=False)[1])


def _merge_sparse_columns(table: np.ndarray, *, min_expected: float = 5.0) -> np.ndarray:
    """Categories expected fewer than min_expected times in either sample, merged into one column.

    The chi-square approximation fails on sparse cells (rare categories flag identical data). The
    choice uses only the pooled column totals, which the test conditions on anyway, so it does not
    bias the test the way choosing by one sample's counts would.
    """
    if table.size == 0 or table.sum() == 0:
        return table
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    sparse = expected.min(axis=0) < min_expected
    if sparse.sum() < 2 or sparse.all():
        return table
    return np.column_stack([table[:, ~sparse], table[:, sparse].sum(axis=1)])


def binned_pvalue(edges: Sequence[float], reference_counts: Sequence[int], current: np.ndarray) -> float:
    """Two-sample chi-square on the reference profile's quantile bins, when no reference sample exists."""
    finite = current[np.isfinite(current)]
    counts = np.bincount(
        np.searchsorted(np.asarray(edges), finite, side="right"), minlength=len(reference_counts)
    )
    reference = {str(i): int(c) for i, c in enumerate(reference_counts)}
    return contingency_pvalue(reference, {str(i): int(c) for i, c in enumerate(counts)})


def evidently_score(
    method: str, reference: pd.Series, current: pd.Series, *, kind: str, threshold: float | None
) -> tuple[float, bool, float]:
    """Run an Evidently stat test by name: (score, drifted, the threshold it used)."""
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    from kubeloop.drift.evidently_tests import register_kubeloop_tests

    register_kubeloop_tests()
    column_type = ColumnType.Numerical if kind == "numeric" else ColumnType.Categorical
    test = get_stattest(reference, current, column_type, method)
    result = test(reference, current, column_type, threshold)
    return float(result.drift_score), bool(result.drifted), float(result.actual_threshold)


def adjust_pvalues(p_values: Sequence[float], *, correction: Correction) -> list[float]:
    """Adjusted p-values: Benjamini-Hochberg (false discovery rate) or Holm (family-wise error)."""
    p = np.asarray(p_values, dtype=float)
    n = p.size
    if n == 0 or correction == "none":
        return [float(v) for v in p]
    order = np.argsort(p)
    ranked = p[order]
    if correction == "bh":
        scaled = ranked * n / np.arange(1, n + 1)
        adjusted = np.minimum.accumulate(scaled[::-1])[::-1]
    else:
        adjusted = np.maximum.accumulate(ranked * (n - np.arange(n)))
    out = np.empty(n)
    out[order] = np.minimum(adjusted, 1.0)
    return [float(v) for v in out]
