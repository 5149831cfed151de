"""Two-sample tests per column and the multiple-testing corrections applied across features (numerics only).

KS for numeric columns and a two-sample chi-square (contingency) test for categories: unlike
Evidently's default `chisquare`, which treats the reference proportions as exact (a goodness-of-fit
test), the contingency test accounts for the reference's own sampling noise, so identical
distributions are flagged at the nominal rate. Nothing here knows Evidently: the other methods a
feature may name run in `kubeloop.drift.evidently_tests`, which uses these tests, never the reverse.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
from scipy import stats

KS = "ks"
CHI2_2SAMP = "chisquare_2samp"
CHI2_BINNED = "chisquare_2samp_binned"
Correction = Literal["bh", "holm", "none"]


def ks_pvalue(reference: np.ndarray, current: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov p-value: scipy's `ks_2samp` (Evidently's `ks`), 1.0 for an empty side.

    scipy picks the exact distribution up to 10,000 rows and Smirnov's asymptotic one above. No
    hand-written fast path: one measured no faster than scipy 1.17 (1M x 1M rows: 2.9 s against 1.3 s).
    """
    if reference.size == 0 or current.size == 0:
        return 1.0
    return float(stats.ks_2samp(reference, current).pvalue)


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


def adjust_pvalues(p_values: Sequence[float], *, correction: Correction) -> list[float]:
    """Adjusted p-values: Benjamini-Hochberg (false discovery rate, by scipy) or Holm's step-down."""
    p = np.asarray(p_values, dtype=float)
    if p.size == 0 or correction == "none":
        return [float(v) for v in p]
    if correction == "bh":
        return [float(v) for v in stats.false_discovery_control(p, method="bh")]
    return [float(v) for v in holm(p)]


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values: the i-th smallest times (m - i), made monotone, at most 1.

    Hand-written because statsmodels' `multipletests(method="holm")`, which gives the same values,
    runs a full `gc.collect()` on every call: 0.3 s per drift check in a process with a large heap
    (`python bench/bench_drift.py --corrections` compares the two).
    """
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate(p[order] * np.arange(p.size, 0, -1))
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted
