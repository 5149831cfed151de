"""Assessment: turn a measured value and its sample count into Pass, Fail or Inconclusive (pure)."""

from __future__ import annotations

import math

from kubeloop.analysis.results import CheckResult, Verdict
from kubeloop.spec import CheckSpec

# Checks that compare paired or windowed model answers; they need mirrored traffic to have pairs.
PAIRED_KINDS = frozenset({"disagreement"})


def assess(check: CheckSpec, *, value: float | None, samples: int) -> CheckResult:
    """Judge one measurement against the check's threshold; missing or scarce data is Inconclusive."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return _result(check, Verdict.INCONCLUSIVE, None, samples, "no data yet")
    if samples < check.min_samples:
        reason = f"{samples} samples, fewer than the {check.min_samples} needed"
        return _result(check, Verdict.INCONCLUSIVE, value, samples, reason)
    ok = value <= check.threshold if check.direction == "max" else value >= check.threshold
    relation = ("<=" if ok else ">") if check.direction == "max" else (">=" if ok else "<")
    reason = f"{value:.4g} {relation} {check.threshold:g}"
    return _result(check, Verdict.PASS if ok else Verdict.FAIL, value, samples, reason)


def unavailable(check: CheckSpec, *, reason: str) -> CheckResult:
    """An Inconclusive result for a check whose source could not be read this time."""
    return _result(check, Verdict.INCONCLUSIVE, None, 0, reason)


def checks_for_phase(checks: tuple[CheckSpec, ...], *, phase: str) -> tuple[CheckSpec, ...]:
    """The checks that apply in a phase: paired checks only while the challenger is mirrored."""
    if phase == "shadow":
        return checks
    return tuple(check for check in checks if check.kind not in PAIRED_KINDS)


def _result(
    check: CheckSpec, verdict: Verdict, value: float | None, samples: int, reason: str
) -> CheckResult:
    return CheckResult(
        name=check.name,
        kind=check.kind,
        verdict=verdict,
        value=value,
        threshold=check.threshold,
        samples=samples,
        reason=reason,
    )
