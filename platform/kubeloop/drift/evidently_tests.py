"""kubeloop's two-sample chi-square registered as an Evidently stat test, so reports can name it."""

from __future__ import annotations

import pandas as pd

from kubeloop.drift.profile import category_counts
from kubeloop.drift.stattests import CHI2_2SAMP, contingency_pvalue

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
