"""The reference profile: compact, JSON round-trips, right kinds and folded rare categories."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kubeloop.drift.check import Reference, check_drift
from kubeloop.drift.profile import MAX_CATEGORIES, OTHER, build_profile, parse_profile, profile_json
from kubeloop.spec import DriftSpec


def test_profile_holds_bins_counts_rows_and_predictions() -> None:
    rng = np.random.default_rng(0)
    features = pd.DataFrame(
        {
            "x": rng.normal(size=10_000),
            "level": rng.choice([1, 2, 3], 10_000),
            "city": rng.choice(["a", "b"], 10_000),
        }
    )

    profile = build_profile(features=features, predictions=rng.choice(["setosa", "virginica"], 10_000))

    assert profile["rows"] == 10_000
    x = profile["features"]["x"]
    assert x["kind"] == "numeric" and len(x["edges"]) == 19 and sum(x["counts"]) == 10_000
    assert profile["features"]["level"]["kind"] == "categorical"  # few distinct numbers
    assert set(profile["features"]["city"]["counts"]) == {"a", "b"}
    assert profile["prediction"]["kind"] == "categorical"
    assert len(profile_json(profile)) < 4000


def test_profile_round_trips_through_json() -> None:
    profile = build_profile(features=pd.DataFrame({"x": np.arange(100.0)}))

    assert parse_profile(profile_json(profile)) == profile


def test_foreign_json_is_refused() -> None:
    with pytest.raises(ValueError, match="not a kubeloop reference profile"):
        parse_profile('{"features": {}}')


def test_many_categories_are_folded_and_the_check_folds_unknown_ones_alike() -> None:
    rng = np.random.default_rng(1)
    names = [f"c{i}" for i in range(300)]
    features = pd.DataFrame({"shop": rng.choice(names, 20_000)})

    profile = build_profile(features=features)
    counts = profile["features"]["shop"]["counts"]
    assert len(counts) == MAX_CATEGORIES and OTHER in counts
    current = pd.DataFrame({"shop": rng.choice(names, 5000)})
    result = check_drift(reference=Reference(profile=profile), current=current, spec=DriftSpec())
    assert result.status == "no_drift"


def test_all_missing_numeric_column_is_summarised() -> None:
    profile = build_profile(features=pd.DataFrame({"x": [np.nan] * 10}), kinds={"x": "numeric"})

    assert profile["features"]["x"]["rows"] == 0 and profile["features"]["x"]["missing"] == 10
