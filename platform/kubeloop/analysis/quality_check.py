"""The `quality` check (pure): the challenger against the champion on labeled requests, non-inferiority.

Pass when the interval of the improvement (challenger minus champion, positive = better) lies above
minus the margin (`threshold`): "not worse by more than the margin, at the check's confidence". Fail
when the challenger is significantly worse (one-sided p of "worse" under (1 - confidence) / 2, the
side of the same two-sided level). Inconclusive while fewer than `minLabels` labeled requests are in
(labels arrive late), and while the data shows neither. Paired on the requests both versions answered
(shadow) once there are enough of them, else on the requests each answered (canary).
"""

from __future__ import annotations

import pandas as pd

from kubeloop.analysis.results import CheckResult, Verdict
from kubeloop.labels.join import KEYS
from kubeloop.quality.paired import Comparison, compare_paired, compare_unpaired, pair_up
from kubeloop.spec import CheckSpec


def judge_quality(check: CheckSpec, *, labeled: pd.DataFrame, champion: str, challenger: str) -> CheckResult:
    """Judge the check on the labeled rows of both versions (any role) since the rollout began."""
    ours = labeled[labeled["version"].astype(str) == str(challenger)] if not labeled.empty else labeled
    theirs = labeled[labeled["version"].astype(str) == str(champion)] if not labeled.empty else labeled
    pairs = len(pair_up(theirs, ours)[0]) if not labeled.empty else 0
    sides = min(ours.drop_duplicates(KEYS).shape[0], theirs.drop_duplicates(KEYS).shape[0])
    if pairs < check.min_labels and (pairs > 0 or sides < check.min_labels):
        counted = f"{pairs} labeled pairs" if pairs else f"{sides} labeled requests per version"
        return _result(check, Verdict.INCONCLUSIVE, None, pairs or sides,
                       f"{counted}, fewer than the {check.min_labels} needed")
    try:
        if pairs >= check.min_labels:
            found = compare_paired(theirs, ours, metric=check.metric, confidence=check.confidence)
        else:
            found = compare_unpaired(theirs, ours, metric=check.metric, confidence=check.confidence)
    except ValueError as error:
        return _result(check, Verdict.INCONCLUSIVE, None, pairs or sides, str(error))
    return verdict_of(check, found, samples=pairs or sides)


def verdict_of(check: CheckSpec, found: Comparison, *, samples: int) -> CheckResult:
    """Pass, Fail or Inconclusive from a comparison (see the module docstring)."""
    lowest, margin = found.improvement.low, check.threshold
    level = f"{check.confidence:.0%}"
    change = found.improvement
    unit = "pairs" if found.pairs else "requests per version"
    shown = (f"{check.metric} {change.value:+.4f} ({level} CI {change.low:+.4f} to {change.high:+.4f}; "
             f"challenger {found.challenger:.4g} vs champion {found.champion:.4g}) on {samples} {unit}, "
             f"{found.test} p(worse)={found.p_worse:.3g}")
    if lowest >= -margin:
        return _result(check, Verdict.PASS, lowest, samples, f"not worse by more than {margin:g}: {shown}")
    if found.p_worse < (1 - check.confidence) / 2:
        return _result(check, Verdict.FAIL, lowest, samples, f"worse than the champion: {shown}")
    return _result(check, Verdict.INCONCLUSIVE, lowest, samples, f"not yet within {margin:g}: {shown}")


def _result(
    check: CheckSpec, verdict: Verdict, value: float | None, samples: int, reason: str
) -> CheckResult:
    return CheckResult(name=check.name, kind=check.kind, verdict=verdict, value=value,
                       threshold=check.threshold, samples=samples, reason=reason)
