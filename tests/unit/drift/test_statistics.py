"""The drift check's statistics on synthetic data: known shifts are found, identical data rarely flagged."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from kubeloop.drift.check import Reference, check_drift
from kubeloop.drift.stattests import adjust_pvalues, contingency_pvalue, ks_pvalue
from kubeloop.spec import DriftSpec

FEATURES = 6
TRIALS = 200


def frame(
    rng: np.random.Generator,
    rows: int,
    *,
    shifts: dict[str, float] | None = None,
    weights: list[float] | None = None,
) -> pd.DataFrame:
    """Numeric features x0..x5 (normal, optionally mean-shifted) and a categorical `colour`."""
    shifts = shifts or {}
    data = {f"x{i}": rng.normal(shifts.get(f"x{i}", 0.0), 1.0, rows) for i in range(FEATURES)}
    data["colour"] = rng.choice(["red", "green", "blue", "grey"], rows, p=weights or [0.4, 0.3, 0.2, 0.1])
    return pd.DataFrame(data)


def test_every_shifted_feature_is_detected_and_no_other() -> None:
    rng = np.random.default_rng(7)
    reference = Reference.from_sample(frame(rng, 2000))
    shifted = {"x1": 0.3, "x4": -0.25, "x5": 0.4}
    current = frame(rng, 3000, shifts=shifted, weights=[0.25, 0.3, 0.25, 0.2])

    result = check_drift(reference=reference, current=current, spec=DriftSpec(drift_share_threshold=0.3))

    assert set(result.drifted_features) == {*shifted, "colour"}
    assert result.status == "drift"
    assert result.drift_share == pytest.approx(4 / 7)


def test_shift_detected_from_the_profile_alone() -> None:
    rng = np.random.default_rng(11)
    profile = Reference.from_sample(frame(rng, 5000)).profile
    current = frame(rng, 3000, shifts={"x2": 0.3})

    result = check_drift(reference=Reference(profile=profile), current=current, spec=DriftSpec())

    assert result.drifted_features == ("x2",)
    assert {f.method for f in result.features} == {"chisquare_2samp_binned", "chisquare_2samp"}


def test_identical_distributions_flag_at_most_the_false_positive_rate() -> None:
    alpha = 0.05
    specs = {
        c: DriftSpec(false_positive_rate=alpha, correction=c, min_rows=100) for c in ("bh", "holm", "none")
    }
    rng = np.random.default_rng(3)
    flagged = dict.fromkeys(specs, 0)
    for _ in range(TRIALS):
        reference, current = Reference.from_sample(frame(rng, 300)), frame(rng, 600)
        for correction, spec in specs.items():
            flagged[correction] += bool(
                check_drift(reference=reference, current=current, spec=spec).drifted_features
            )

    # Under identical distributions any flagged feature is a false alarm; both corrections bound the
    # chance of one per window by alpha. Allow three standard errors of the estimate.
    bound = alpha + 3 * math.sqrt(alpha * (1 - alpha) / TRIALS)
    assert flagged["bh"] / TRIALS <= bound, flagged
    assert flagged["holm"] / TRIALS <= bound, flagged
    # Uncorrected, 7 tests at 5% raise a false alarm in about 1 - 0.95**7 = 30% of windows.
    assert flagged["none"] / TRIALS > 0.2, flagged


def test_goodness_of_fit_chisquare_overstates_drift_where_the_two_sample_test_does_not() -> None:
    from evidently.legacy.calculations.stattests import chi_stat_test
    from evidently.legacy.core import ColumnType

    rng = np.random.default_rng(13)
    categories, p = ["a", "b", "c", "d", "e"], [0.3, 0.25, 0.2, 0.15, 0.1]
    evidently_flags = ours = 0
    for _ in range(100):
        reference = pd.Series(rng.choice(categories, 100, p=p))
        current = pd.Series(rng.choice(categories, 2000, p=p))
        evidently_flags += chi_stat_test(reference, current, ColumnType.Categorical, 0.05).drifted
        ours += (
            contingency_pvalue(reference.value_counts().to_dict(), current.value_counts().to_dict()) < 0.05
        )

    assert evidently_flags / 100 > 0.3
    assert ours / 100 <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 100)


def test_ks_matches_evidently() -> None:
    from evidently.legacy.calculations.stattests import ks_stat_test
    from evidently.legacy.core import ColumnType

    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 800), rng.normal(0.1, 1, 1200)

    expected = ks_stat_test(pd.Series(a), pd.Series(b), ColumnType.Numerical, 0.05).drift_score

    assert ks_pvalue(a, b) == pytest.approx(expected)


def test_benjamini_hochberg_and_holm_adjustments() -> None:
    p = [0.01, 0.04, 0.03, 0.005]

    assert adjust_pvalues(p, correction="bh") == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert adjust_pvalues(p, correction="holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert adjust_pvalues(p, correction="none") == p
    assert adjust_pvalues([], correction="bh") == []


def test_holm_equals_statsmodels_on_random_p_values() -> None:
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(11)
    for size in (1, 2, 7, 50):
        p = rng.uniform(size=size) ** 3
        assert adjust_pvalues(p, correction="holm") == pytest.approx(list(multipletests(p, method="holm")[1]))


def test_contingency_handles_new_and_single_categories() -> None:
    assert contingency_pvalue({"a": 100}, {"a": 80}) == 1.0
    assert contingency_pvalue({"a": 100, "b": 100}, {"a": 100, "b": 100, "new": 60}) < 1e-6
    assert contingency_pvalue({}, {"a": 3}) == 1.0


@pytest.mark.parametrize("seed", range(6))
def test_ks_equals_scipy_on_large_samples_with_and_without_ties(seed: int) -> None:
    from scipy import stats

    rng = np.random.default_rng(seed)
    reference = rng.normal(0, 1, int(rng.integers(50, 3000)))
    current = rng.normal(rng.uniform(-0.1, 0.1), rng.uniform(0.8, 1.2), int(rng.integers(10_001, 40_000)))
    if seed % 2:
        reference, current = np.round(reference, 1), np.round(current, 1)
    if seed % 3 == 0:
        reference, current = current, reference

    expected = stats.ks_2samp(reference, current)

    assert ks_pvalue(reference, current) == pytest.approx(expected.pvalue, rel=1e-9)
