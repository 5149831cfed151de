"""Which test each column gets: the spec's override, kubeloop's two-sample tests, or Evidently's choice."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from kubeloop.drift import stattests
from kubeloop.spec import DriftSpec


def default_method(kind: str) -> str:
    """KS for numbers, the two-sample chi-square for categories."""
    return stattests.KS if kind == "numeric" else stattests.CHI2_2SAMP


def evidently_method(kind: str, *, reference_rows: int, distinct: int) -> str:
    """The method Evidently's DataDriftPreset picks for a column, with a two-sample chi-square for its
    goodness-of-fit one: KS or chi-square/z for references up to 1000 rows, distances above."""
    if reference_rows <= 1000:
        if kind == "numeric" and distinct > 5:
            return stattests.KS
        return stattests.CHI2_2SAMP if distinct > 2 else "z"
    return "wasserstein" if kind == "numeric" and distinct > 5 else "jensenshannon"


def choose_method(
    name: str, entry: Mapping[str, Any], *, spec: DriftSpec, sample: pd.Series | None, current: pd.Series
) -> str:
    """The per-feature override, else the spec's default family of methods."""
    if name in spec.feature_methods:
        return spec.feature_methods[name]
    if spec.default_methods == "two-sample" or sample is None:
        return default_method(entry["kind"])
    distinct = int(pd.concat([sample, current], ignore_index=True).nunique(dropna=True))
    return evidently_method(entry["kind"], reference_rows=int(sample.notna().sum()), distinct=distinct)
