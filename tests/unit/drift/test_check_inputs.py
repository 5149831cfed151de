"""Bad input to the drift check: each case is reported with a clear status, never as "no drift"."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kubeloop.drift.check import Reference, check_drift
from kubeloop.spec import DriftSpec


@pytest.fixture(scope="module")
def reference() -> Reference:
    rng = np.random.default_rng(0)
    sample = pd.DataFrame(
        {
            "a": rng.normal(size=1000),
            "b": rng.normal(size=1000),
            "kind": rng.choice(["x", "y"], 1000),
            "prediction": rng.choice([0, 1, 2], 1000),
        }
    )
    return Reference.from_sample(sample)


def window(rows: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "a": rng.normal(size=rows),
            "b": rng.normal(size=rows),
            "kind": rng.choice(["x", "y"], rows),
            "prediction": rng.choice([0, 1, 2], rows),
        }
    )


def test_empty_window_is_not_enough_data(reference: Reference) -> None:
    result = check_drift(reference=reference, current=window(0), spec=DriftSpec())

    assert result.status == "not_enough_data"
    assert not result.decided and not result.detected
    assert "no predictions" in result.reason


def test_too_few_rows_is_not_enough_data_never_no_drift(reference: Reference) -> None:
    result = check_drift(reference=reference, current=window(499), spec=DriftSpec(min_rows=500))

    assert result.status == "not_enough_data"
    assert result.reason == "499 rows in the window, at least 500 needed (spec.drift.minRows)"
    assert result.drift_share is None


def test_a_column_the_reference_lacks_is_ignored_and_named(reference: Reference) -> None:
    current = window(800).assign(surprise=1.0)

    result = check_drift(reference=reference, current=current, spec=DriftSpec())

    assert result.status == "no_drift"
    assert "logs have columns the reference lacks (ignored): surprise" in result.notes
    assert "surprise" not in {f.feature for f in result.features}


def test_a_reference_feature_missing_from_the_logs_is_named(reference: Reference) -> None:
    result = check_drift(reference=reference, current=window(800).drop(columns=["b"]), spec=DriftSpec())

    assert result.decided
    assert "reference features missing from the logs: b" in result.notes
    assert [f.feature for f in result.features] == ["a", "kind"]


def test_logs_sharing_no_feature_with_the_reference_fail_clearly(reference: Reference) -> None:
    current = pd.DataFrame({"other": range(800)})

    result = check_drift(reference=reference, current=current, spec=DriftSpec())

    assert result.status == "failed"
    assert result.reason == "none of the reference features (a, b, kind) are in the logs"


def test_non_numbers_in_a_numeric_column_count_as_missing(reference: Reference) -> None:
    current = window(800).astype({"a": object})
    current.loc[:99, "a"] = "oops"

    result = check_drift(reference=reference, current=current, spec=DriftSpec())

    by_name = {f.feature: f for f in result.features}
    assert by_name["a"].rows == 700
    assert not by_name["a"].drifted


def test_prediction_drift_is_checked_separately(reference: Reference) -> None:
    current = window(1000)
    current["prediction"] = np.random.default_rng(2).choice([0, 1, 2], 1000, p=[0.6, 0.2, 0.2])

    result = check_drift(reference=reference, current=current, spec=DriftSpec())

    assert result.status == "no_drift"
    assert result.prediction is not None and result.prediction.drifted
    assert result.prediction.method == "chisquare_2samp"


def test_no_prediction_profile_is_noted() -> None:
    sample = window(1000).drop(columns=["prediction"])

    result = check_drift(reference=Reference.from_sample(sample), current=window(800), spec=DriftSpec())

    assert result.prediction is None
    assert "the reference has no prediction profile: prediction drift not checked" in result.notes


def test_feature_methods_override_uses_evidently_methods(reference: Reference) -> None:
    spec = DriftSpec(feature_methods={"a": "wasserstein", "kind": "chisquare"})

    result = check_drift(reference=reference, current=window(800), spec=spec)

    by_name = {f.feature: f for f in result.features}
    assert by_name["a"].method == "wasserstein" and not by_name["a"].is_test
    assert by_name["a"].threshold == pytest.approx(0.1)
    assert by_name["kind"].method == "chisquare" and by_name["kind"].adjusted_p is not None


def test_override_without_a_sample_falls_back_to_the_profile_and_says_so(reference: Reference) -> None:
    spec = DriftSpec(feature_methods={"a": "wasserstein"})

    result = check_drift(reference=Reference(profile=reference.profile), current=window(800), spec=spec)

    assert {f.feature: f.method for f in result.features}["a"] == "chisquare_2samp_binned"
    assert any("'wasserstein' needs the reference sample" in note for note in result.notes)


def test_summary_is_json_ready(reference: Reference) -> None:
    import json

    result = check_drift(reference=reference, current=window(800), spec=DriftSpec())

    data = json.loads(json.dumps(result.to_dict()))
    assert data["status"] == "no_drift" and data["rows"] == 800
    assert len(data["features"]) == 3


def test_evidently_methods_are_chosen_as_evidently_does_but_two_sample(reference: Reference) -> None:
    spec = DriftSpec(default_methods="evidently")

    small = check_drift(reference=reference, current=window(800), spec=spec)
    large_sample = pd.concat([reference.sample] * 2, ignore_index=True)  # 2000 rows: Evidently uses distances
    large = check_drift(reference=Reference.from_sample(large_sample), current=window(800), spec=spec)

    assert {f.feature: f.method for f in small.features} == {"a": "ks", "b": "ks", "kind": "z"}
    assert small.prediction is not None and small.prediction.method == "chisquare_2samp"
    assert {f.feature: f.method for f in large.features} == {
        "a": "wasserstein",
        "b": "wasserstein",
        "kind": "jensenshannon",
    }
    assert large.status == "no_drift"


def test_a_mostly_empty_feature_is_not_tested_and_named(reference: Reference) -> None:
    current = window(800)
    current.loc[10:, "b"] = np.nan

    result = check_drift(reference=reference, current=current, spec=DriftSpec(min_rows=500))

    assert [f.feature for f in result.features] == ["a", "kind"]
    assert "b: 10 values in the window, 500 needed: not tested" in result.notes


def test_no_feature_with_enough_values_is_not_enough_data(reference: Reference) -> None:
    current = window(800)
    current[["a", "b", "kind"]] = None

    result = check_drift(reference=reference, current=current, spec=DriftSpec(min_rows=500))

    assert result.status == "not_enough_data"
    assert result.reason == "no feature has 500 values in the window (spec.drift.minRows)"
