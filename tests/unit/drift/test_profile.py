"""The reference profile: compact, JSON round-trips, right kinds and folded rare categories."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kubeloop.drift.check import Reference, check_drift
from kubeloop.drift.profile import HASH_BUCKETS, MAX_CATEGORIES, build_profile, parse_profile, profile_json
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


def _false_alarm_share(
    names: list[str],
    *,
    trials: int,
    weights: np.ndarray | None = None,
    reference_rows: int = 20_000,
    window_rows: int = 5000,
) -> float:
    """Share of windows drawn like the reference that the check flags at 5%."""
    flagged = 0
    for seed in range(trials):
        rng = np.random.default_rng(seed)
        profile = build_profile(features=pd.DataFrame({"shop": rng.choice(names, reference_rows, p=weights)}))
        window = pd.DataFrame({"shop": rng.choice(names, window_rows, p=weights)})
        result = check_drift(reference=Reference(profile=profile), current=window, spec=DriftSpec())
        flagged += result.features[0].score < 0.05
    return flagged / trials


def test_categories_up_to_the_limit_are_kept_exactly_and_identical_data_rarely_drifts() -> None:
    rng = np.random.default_rng(1)
    profile = build_profile(
        features=pd.DataFrame({"shop": rng.choice([f"c{i}" for i in range(300)], 20_000)})
    )

    assert len(profile["features"]["shop"]["counts"]) == 300 and "hashed" not in profile["features"]["shop"]
    # Nominal 5%; 9 of 60 has a chance of about 0.1% (the old top-K folding flagged over 30%).
    assert _false_alarm_share([f"c{i}" for i in range(300)], trials=60) <= 0.15


def test_many_categories_are_hashed_and_the_window_is_folded_alike() -> None:
    rng = np.random.default_rng(1)
    names = [f"c{i}" for i in range(MAX_CATEGORIES * 3)]
    profile = build_profile(features=pd.DataFrame({"shop": rng.choice(names, 50_000)}))
    entry = profile["features"]["shop"]

    assert entry["hashed"] == HASH_BUCKETS and len(entry["counts"]) == HASH_BUCKETS
    assert sum(entry["counts"].values()) == 50_000
    reference = Reference(profile=profile)
    unseen = pd.DataFrame({"shop": rng.choice(names + ["brand-new"], 5000)})
    fewer_shops = pd.DataFrame({"shop": rng.choice(names[:300], 5000)})
    assert check_drift(reference=reference, current=unseen, spec=DriftSpec()).features[0].score > 1e-3
    assert check_drift(reference=reference, current=fewer_shops, spec=DriftSpec()).status == "drift"
    assert _false_alarm_share(names, trials=30) <= 0.2


def test_rare_categories_do_not_raise_false_alarms() -> None:
    # A long tail of categories seen a few times each: chi-square on such sparse cells flags
    # identical data in about 16% of windows; merged by their pooled counts, about 5%.
    weights = np.r_[np.full(3, 0.3), np.full(900, 0.1 / 900)]
    names = [f"c{i}" for i in range(weights.size)]
    share = _false_alarm_share(names, trials=150, weights=weights, reference_rows=5000, window_rows=500)
    assert share <= 0.1


def test_all_missing_numeric_column_is_summarised() -> None:
    profile = build_profile(features=pd.DataFrame({"x": [np.nan] * 10}), kinds={"x": "numeric"})

    assert profile["features"]["x"]["rows"] == 0 and profile["features"]["x"]["missing"] == 10
