"""The drift check: one window of logged inputs and predictions against a model version's reference.

A pure function of data: no registry, no clock, no I/O. Each reference feature gets one test (the
method the spec names for it, else KS for numbers and the two-sample chi-square for categories);
p-values are corrected across features at the spec's false-positive rate; the window is drifted
when the share of drifted features reaches the spec's threshold. Too few rows gives
"not enough data", never "no drift".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from kubeloop.drift import evidently_tests, stattests
from kubeloop.drift.methods import choose_method, default_method
from kubeloop.drift.profile import build_profile, category_counts, fold_counts
from kubeloop.drift.results import DriftResult, FeatureDrift, undecided
from kubeloop.predlog.schema import PREDICTION
from kubeloop.spec import DriftSpec


@dataclass(frozen=True, kw_only=True)
class Reference:
    """A model version's reference: its profile, and the raw sample when one was logged."""

    profile: Mapping[str, Any]
    sample: pd.DataFrame | None = None

    @classmethod
    def from_sample(cls, sample: pd.DataFrame) -> Reference:
        """A reference built from a sample alone (its `prediction` column, if any, is the prediction)."""
        features = sample.drop(columns=[PREDICTION], errors="ignore")
        predictions = sample[PREDICTION] if PREDICTION in sample.columns else None
        return cls(profile=build_profile(features=features, predictions=predictions), sample=sample)

    def sample_column(self, name: str) -> pd.Series | None:
        """The sample's column, or None when there is no sample or it lacks the column."""
        if self.sample is None or name not in self.sample.columns:
            return None
        return self.sample[name]


def _numbers(values: pd.Series) -> np.ndarray:
    if values.dtype.kind in "fiu":
        array = values.to_numpy(dtype=float)
    else:  # JSON logs may hold strings or None in a numeric column: those count as missing
        array = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    finite = np.isfinite(array)
    return array if finite.all() else array[finite]


def _reference_counts(
    entry: Mapping[str, Any], current: dict[str, int]
) -> tuple[dict[str, int], dict[str, int]]:
    reference = dict(entry["counts"])
    if entry.get("hashed"):  # the profile folded its many categories: fold the window's alike
        current = fold_counts(current, int(entry["hashed"]))
    return reference, current


def _pvalue(
    name: str, entry: Mapping[str, Any], method: str, reference: Reference, current: pd.Series
) -> tuple[str, float, int]:
    """(method actually used, p-value, rows compared) for kubeloop's own two-sample tests."""
    sample = reference.sample_column(name)
    if entry["kind"] == "categorical":
        counts = category_counts(current)
        p_value = stattests.contingency_pvalue(*_reference_counts(entry, counts))
        return stattests.CHI2_2SAMP, p_value, sum(counts.values())
    numbers = _numbers(current)
    if sample is None:
        p_value = stattests.binned_pvalue(entry["edges"], entry["counts"], numbers)
        return stattests.CHI2_BINNED, p_value, numbers.size
    if method == stattests.KS:
        return method, stattests.ks_pvalue(_numbers(sample), numbers), numbers.size
    counts = category_counts(current)
    return method, stattests.contingency_pvalue(category_counts(sample), counts), sum(counts.values())


def compare_column(
    *,
    name: str,
    entry: Mapping[str, Any],
    method: str,
    reference: Reference,
    current: pd.Series,
    alpha: float,
) -> tuple[FeatureDrift, str | None]:
    """One column's uncorrected comparison, and a note when the requested method could not run."""
    own = (stattests.KS, stattests.CHI2_2SAMP)
    sample = reference.sample_column(name)
    note = None
    if method not in own and sample is None:
        note = f"{name}: method {method!r} needs the reference sample, which is missing; used the profile"
        method = default_method(entry["kind"])
    if method in own:
        used, p_value, rows = _pvalue(name, entry, method, reference, current)
        return FeatureDrift(
            feature=name,
            kind=entry["kind"],
            method=used,
            score=p_value,
            threshold=alpha,
            drifted=p_value < alpha,
            rows=rows,
        ), note
    assert sample is not None
    is_test = method in evidently_tests.P_VALUE_METHODS
    score, drifted, threshold = evidently_tests.evidently_score(
        method, sample.dropna(), current.dropna(), kind=entry["kind"], threshold=alpha if is_test else None
    )
    return FeatureDrift(
        feature=name,
        kind=entry["kind"],
        method=method,
        score=score,
        threshold=threshold,
        drifted=drifted,
        is_test=is_test,
        rows=int(current.notna().sum()),
    ), note


def correct(
    features: list[FeatureDrift], *, alpha: float, correction: stattests.Correction
) -> list[FeatureDrift]:
    """Replace the verdicts of p-value tests with those of the corrected p-values."""
    tests = [i for i, f in enumerate(features) if f.is_test]
    adjusted = stattests.adjust_pvalues([features[i].score for i in tests], correction=correction)
    out = list(features)
    for index, p_adj in zip(tests, adjusted, strict=True):
        out[index] = replace(out[index], adjusted_p=p_adj, drifted=p_adj < alpha)
    return out


def check_drift(*, reference: Reference, current: pd.DataFrame, spec: DriftSpec) -> DriftResult:
    """Compare a window (one column per feature, plus `prediction`) with the reference."""
    profile, rows = reference.profile, len(current)
    reference_rows = int(profile.get("rows", 0))
    known = profile["features"]
    extra = sorted(set(current.columns) - set(known) - {PREDICTION})
    missing = sorted(set(known) - set(current.columns))
    notes = tuple(
        [f"logs have columns the reference lacks (ignored): {', '.join(extra)}"] * bool(extra)
        + [f"reference features missing from the logs: {', '.join(missing)}"] * bool(missing)
    )
    if rows == 0:
        return undecided(
            "not_enough_data",
            "the window holds no predictions",
            rows=0,
            reference_rows=reference_rows,
            notes=notes,
        )
    present = [name for name in known if name in current.columns]
    if not present:
        return undecided(
            "failed",
            f"none of the reference features ({', '.join(sorted(known))}) are in the logs",
            rows=rows,
            reference_rows=reference_rows,
            notes=notes,
        )
    if rows < spec.min_rows:
        return undecided(
            "not_enough_data",
            f"{rows} rows in the window, at least {spec.min_rows} needed (spec.drift.minRows)",
            rows=rows,
            reference_rows=reference_rows,
            notes=notes,
        )
    return _decide(reference=reference, current=current, spec=spec, present=present, notes=notes)


def _decide(
    *,
    reference: Reference,
    current: pd.DataFrame,
    spec: DriftSpec,
    present: list[str],
    notes: tuple[str, ...],
) -> DriftResult:
    profile, alpha = reference.profile, spec.false_positive_rate
    features, extra_notes = [], list(notes)
    for name in present:
        entry = profile["features"][name]
        method = choose_method(
            name, entry, spec=spec, sample=reference.sample_column(name), current=current[name]
        )
        result, note = compare_column(
            name=name, entry=entry, method=method, reference=reference, current=current[name], alpha=alpha
        )
        extra_notes += [note] if note else []
        if result.rows < spec.min_rows:  # a mostly empty column: too few values to test, so untested
            extra_notes.append(
                f"{name}: {result.rows} values in the window, {spec.min_rows} needed: not tested"
            )
            continue
        features.append(result)
    if not features:
        return undecided(
            "not_enough_data",
            f"no feature has {spec.min_rows} values in the window (spec.drift.minRows)",
            rows=len(current),
            reference_rows=int(profile.get("rows", 0)),
            notes=tuple(extra_notes),
        )
    features = correct(features, alpha=alpha, correction=spec.correction)
    drifted = sum(f.drifted for f in features)
    share = drifted / len(features)
    detected = share >= spec.drift_share_threshold
    reason = (
        f"{drifted} of {len(features)} features drifted (share {share:.2f}, "
        f"threshold {spec.drift_share_threshold:.2f})"
    )
    prediction = _prediction_drift(reference=reference, current=current, spec=spec, notes=extra_notes)
    return DriftResult(
        status="drift" if detected else "no_drift",
        reason=reason,
        rows=len(current),
        reference_rows=int(profile.get("rows", 0)),
        features=tuple(features),
        prediction=prediction,
        drift_share=share,
        threshold=spec.drift_share_threshold,
        correction=spec.correction,
        notes=tuple(extra_notes),
    )


def _prediction_drift(
    *, reference: Reference, current: pd.DataFrame, spec: DriftSpec, notes: list[str]
) -> FeatureDrift | None:
    entry = reference.profile.get("prediction")
    if PREDICTION not in current.columns:
        notes.append("the logs hold no predictions: prediction drift not checked")
        return None
    if not entry:
        notes.append("the reference has no prediction profile: prediction drift not checked")
        return None
    method = choose_method(
        PREDICTION, entry, spec=spec, sample=reference.sample_column(PREDICTION), current=current[PREDICTION]
    )
    result, note = compare_column(
        name=PREDICTION,
        entry=entry,
        method=method,
        reference=reference,
        current=current[PREDICTION],
        alpha=spec.false_positive_rate,
    )
    notes += [note] if note else []
    return result
