"""The Evidently adapter: its stat tests by name, with kubeloop's two-sample chi-square registered among them.

The only drift module that imports Evidently's stat tests (the HTML report imports its Report); the
numerics in `kubeloop.drift.stattests` never import this one.
"""

from __future__ import annotations

import pandas as pd

from kubeloop.drift.profile import category_counts
from kubeloop.drift.stattests import CHI2_2SAMP, CHI2_BINNED, KS, contingency_pvalue

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

_registered = False


def _chi2_two_sample(
    reference: pd.Series, current: pd.Series, feature_type: object, threshold: float
) -> tuple[float, bool]:
    p_value = contingency_pvalue(category_counts(reference), category_counts(current))
    return p_value, p_value < threshold


def register_kubeloop_tests() -> None:
    """Register `chisquare_2samp` with Evidently once per process (Evidently's registry is global)."""
    global _registered
    if _registered:
        return
    from evidently.legacy.calculations.stattests.registry import StatTest, register_stattest
    from evidently.legacy.core import ColumnType

    test = StatTest(
        name=CHI2_2SAMP,
        display_name="two-sample chi-square p_value",
        allowed_feature_types=[ColumnType.Categorical, ColumnType.Numerical],
    )
    register_stattest(test, default_impl=_chi2_two_sample)
    _registered = True


def evidently_score(
    method: str, reference: pd.Series, current: pd.Series, *, kind: str, threshold: float | None
) -> tuple[float, bool, float]:
    """Run an Evidently stat test by name: (score, drifted, the threshold it used)."""
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    register_kubeloop_tests()
    column_type = ColumnType.Numerical if kind == "numeric" else ColumnType.Categorical
    test = get_stattest(reference, current, column_type, method)
    result = test(reference, current, column_type, threshold)
    return float(result.drift_score), bool(result.drifted), float(result.actual_threshold)
