"""The reference profile: a compact JSON summary of training inputs and predictions for drift checks.

Built once at registration from the training inputs (and the model's predictions on them), so a
drift check never needs the training data again. Numeric features keep quantile bin edges with the
reference counts per bin; categorical features (and numeric ones with few distinct values) keep
their category counts. The counts make the binned comparison a genuine two-sample test.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

PROFILE_FORMAT = 1
DEFAULT_BINS = 20
# Numeric columns with at most this many distinct values are compared as categories, as Evidently does.
MAX_NUMERIC_AS_CATEGORY = 5
# Up to this many categories are kept exactly; a column with more is folded into HASH_BUCKETS buckets
# by a hash of the category. Keeping the most frequent ones and folding the rest would pick, among
# categories of similar frequency, those that came out high by chance in the reference: the window
# then looks lower on all of them and identical data "drifts" (a third of the windows, measured).
# A hash ignores the counts, so the comparison stays a fair two-sample test.
MAX_CATEGORIES = 1000
HASH_BUCKETS = 256

Kind = Literal["numeric", "categorical"]


def column_kind(values: pd.Series) -> Kind:
    """Numeric when the column holds numbers with more than a handful of distinct values."""
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        return "categorical"
    return "numeric" if values.nunique(dropna=True) > MAX_NUMERIC_AS_CATEGORY else "categorical"


def category_key(value: Any) -> str:
    """Categories are stored as strings so JSON round-trips keep them comparable (1 and 1.0 agree)."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def category_counts(values: pd.Series) -> dict[str, int]:
    """Counts per category key, missing values left out."""
    keys = values.dropna().map(category_key)
    return {str(k): int(v) for k, v in keys.value_counts().items()}


def hash_bucket(key: str, buckets: int) -> str:
    """The bucket a category key folds into: stable across processes and Python versions."""
    return f"#{zlib.crc32(key.encode()) % buckets}"


def fold_counts(counts: Mapping[str, int], buckets: int) -> dict[str, int]:
    """Category counts folded into hash buckets (the same for the reference and every window)."""
    folded: dict[str, int] = {}
    for key, count in counts.items():
        bucket = hash_bucket(key, buckets)
        folded[bucket] = folded.get(bucket, 0) + count
    return folded


def _numeric_summary(values: np.ndarray, bins: int) -> dict[str, Any]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {"kind": "numeric", "rows": 0, "missing": int(values.size), "edges": [], "counts": [0]}
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1]))
    counts = np.bincount(np.searchsorted(edges, finite, side="right"), minlength=edges.size + 1)
    return {
        "kind": "numeric",
        "rows": int(finite.size),
        "missing": int(values.size - finite.size),
        "edges": [float(e) for e in edges],
        "counts": [int(c) for c in counts],
        "mean": float(finite.mean()),
        "std": float(finite.std()),
        "min": float(finite.min()),
        "max": float(finite.max()),
    }


def _categorical_summary(values: pd.Series) -> dict[str, Any]:
    counts = category_counts(values)
    summary: dict[str, Any] = {
        "kind": "categorical",
        "rows": int(values.notna().sum()),
        "missing": int(values.isna().sum()),
        "counts": counts,
    }
    if len(counts) > MAX_CATEGORIES:
        summary.update(counts=fold_counts(counts, HASH_BUCKETS), hashed=HASH_BUCKETS)
    return summary


def summarize(values: pd.Series, *, kind: Kind | None = None, bins: int = DEFAULT_BINS) -> dict[str, Any]:
    """The profile entry of one column: quantile bins for numbers, counts for categories."""
    kind = kind or column_kind(values)
    if kind == "numeric":
        return _numeric_summary(pd.to_numeric(values, errors="coerce").to_numpy(dtype=float), bins)
    return _categorical_summary(values)


def build_profile(
    *,
    features: pd.DataFrame,
    predictions: Sequence[Any] | pd.Series | None = None,
    bins: int = DEFAULT_BINS,
    kinds: Mapping[str, Kind] | None = None,
) -> dict[str, Any]:
    """The reference profile of training inputs (one column per feature) and the model's predictions."""
    kinds = dict(kinds or {})
    profile: dict[str, Any] = {
        "format": PROFILE_FORMAT,
        "rows": int(len(features)),
        "features": {
            str(name): summarize(features[name], kind=kinds.get(str(name)), bins=bins)
            for name in features.columns
        },
        "prediction": None,
    }
    if predictions is not None:
        profile["prediction"] = summarize(pd.Series(predictions).reset_index(drop=True), bins=bins)
    return profile


def profile_json(profile: Mapping[str, Any]) -> str:
    """The profile as compact JSON text."""
    return json.dumps(profile, separators=(",", ":"), sort_keys=True)


def parse_profile(text: str) -> dict[str, Any]:
    """A profile back from its JSON text; ValueError when it is not one."""
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("format") != PROFILE_FORMAT or "features" not in data:
        raise ValueError("not a kubeloop reference profile (format 1)")
    return data
