"""The rollout engine: `decide(spec, state, measurements, now) -> Decision`, a pure function with a reason.

No I/O and no clock: the controller passes `now` and the check results it measured. A step is
never skipped, a Fail never promotes, Inconclusive or too little data holds, and reaching the
failure limit rolls back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from kubeloop.analysis.assess import PAIRED_KINDS, checks_for_phase
from kubeloop.analysis.results import CheckResult, Verdict
from kubeloop.rollout.state import Phase, RolloutState
from kubeloop.spec import RolloutSpec


class DecisionKind(StrEnum):
    """What the engine asks the controller to do."""

    HOLD = "hold"
    ADVANCE = "advance"
    PROMOTE = "promote"
    ROLLBACK = "rollback"
    ABORT = "abort"


@dataclass(frozen=True, kw_only=True)
class Decision:
    """A decision and where it leaves the rollout (phase, step, weight, counters)."""

    kind: DecisionKind
    reason: str
    phase: Phase
    step: int
    weight: int
    failures: int
    paired_samples: int
    analysed: bool
    checks: tuple[CheckResult, ...] = ()

    @property
    def changes_traffic(self) -> bool:
        """True when the decision moves traffic (anything but a hold)."""
        return self.kind is not DecisionKind.HOLD


def next_analysis_at(spec: RolloutSpec, state: RolloutState) -> float:
    """When the next analysis is due: one interval after the last one (or after the step began)."""
    last = state.last_analysis_at if state.last_analysis_at is not None else state.step_started_at
    return last + spec.canary.interval


def analysis_due(spec: RolloutSpec, state: RolloutState, *, now: float) -> bool:
    """True when a running rollout's interval has ended, so the checks are to be measured now."""
    return not state.phase.terminal and now >= next_analysis_at(spec, state)


def decide(
    spec: RolloutSpec, state: RolloutState, measurements: Iterable[CheckResult], *, now: float
) -> Decision:
    """Decide the next move from the state and the checks measured over the last interval."""
    if state.phase.terminal:
        return _hold(state, f"rollout already {state.phase.value}", analysed=False)
    if now < next_analysis_at(spec, state):
        wait = next_analysis_at(spec, state) - now
        return _hold(state, f"next analysis in {wait:.1f}s", analysed=False)
    results = _applicable(spec, state.phase, tuple(measurements))
    failed = [r for r in results if r.verdict is Verdict.FAIL]
    if failed:
        return _on_failure(spec, state, results, failed)
    paired = state.paired_samples + (paired_samples_in(results) if state.phase is Phase.SHADOW else 0)
    inconclusive = [r for r in results if r.verdict is Verdict.INCONCLUSIVE]
    if inconclusive:
        reason = "inconclusive: " + "; ".join(f"{r.name} {r.reason}" for r in inconclusive)
        return _hold_or_abort(spec, state, results, reason, now=now, paired=paired)
    if state.phase is Phase.SHADOW:
        return _leave_shadow(spec, state, results, now=now, paired=paired)
    return _next_step(spec, state, results, paired=paired)


def manual_promote(state: RolloutState, *, reason: str = "promoted by hand") -> Decision:
    """Skip the remaining steps and promote now (still one recorded step)."""
    return _decision(state, DecisionKind.PROMOTE, reason, Phase.PROMOTED, state.step, 100, analysed=False)


def manual_rollback(state: RolloutState, *, reason: str = "rolled back by hand") -> Decision:
    """Send all traffic back to the champion at once."""
    return _decision(state, DecisionKind.ROLLBACK, reason, Phase.ROLLED_BACK, state.step, 0, analysed=False)


def _applicable(
    spec: RolloutSpec, phase: Phase, measured: tuple[CheckResult, ...]
) -> tuple[CheckResult, ...]:
    """The measured result for each check the phase needs; a check nobody measured is Inconclusive."""
    by_name = {result.name: result for result in measured}
    results = []
    for check in checks_for_phase(spec.checks, phase=phase.value):
        result = by_name.get(check.name)
        if result is None:
            result = CheckResult(
                name=check.name,
                kind=check.kind,
                verdict=Verdict.INCONCLUSIVE,
                value=None,
                threshold=check.threshold,
                samples=0,
                reason="not measured",
            )
        results.append(result)
    return tuple(results)


def _on_failure(
    spec: RolloutSpec, state: RolloutState, results: tuple[CheckResult, ...], failed: list[CheckResult]
) -> Decision:
    failures = state.failures + 1
    detail = "; ".join(f"{r.name} {r.reason}" for r in failed)
    counted = f"({failures}/{spec.failure_limit})"
    if failures >= spec.failure_limit:
        reason = f"failure limit reached {counted}: {detail}"
        return _decision(
            state,
            DecisionKind.ROLLBACK,
            reason,
            Phase.ROLLED_BACK,
            state.step,
            0,
            failures=failures,
            checks=results,
        )
    return _hold(state, f"check failed {counted}: {detail}", checks=results, failures=failures)


def _hold_or_abort(
    spec: RolloutSpec,
    state: RolloutState,
    results: tuple[CheckResult, ...],
    reason: str,
    *,
    now: float,
    paired: int,
) -> Decision:
    if now - state.step_started_at >= spec.step_deadline:
        why = f"step deadline of {spec.step_deadline:g}s passed; {reason}"
        return _decision(state, DecisionKind.ABORT, why, Phase.ABORTED, state.step, 0, checks=results)
    return _hold(state, reason, checks=results, paired=paired)


def _leave_shadow(
    spec: RolloutSpec, state: RolloutState, results: tuple[CheckResult, ...], *, now: float, paired: int
) -> Decision:
    assert spec.shadow is not None  # a rollout is only in shadow when its strategy has one
    elapsed = now - state.step_started_at
    if elapsed < spec.shadow.duration:
        reason = f"checks pass; shadow lasts {spec.shadow.duration - elapsed:.1f}s more"
        return _hold(state, reason, checks=results, paired=paired)
    if paired < spec.shadow.min_samples:
        reason = f"checks pass on {paired} paired samples, fewer than the {spec.shadow.min_samples} needed"
        return _hold_or_abort(spec, state, results, reason, now=now, paired=paired)
    weight = spec.canary.steps[0]
    reason = f"shadow passed on {paired} paired samples; canary at {weight}%"
    return _decision(
        state, DecisionKind.ADVANCE, reason, Phase.CANARY, 0, weight, checks=results, paired=paired
    )


def _next_step(
    spec: RolloutSpec, state: RolloutState, results: tuple[CheckResult, ...], *, paired: int
) -> Decision:
    steps = spec.canary.steps
    if state.step + 1 < len(steps):
        step = state.step + 1
        reason = f"checks pass at {state.weight}%; advancing to {steps[step]}%"
        return _decision(
            state,
            DecisionKind.ADVANCE,
            reason,
            Phase.CANARY,
            step,
            steps[step],
            checks=results,
            paired=paired,
        )
    reason = f"checks pass at {state.weight}%, the last step; promoting"
    return _decision(
        state, DecisionKind.PROMOTE, reason, Phase.PROMOTED, state.step, 100, checks=results, paired=paired
    )


def _hold(
    state: RolloutState,
    reason: str,
    *,
    analysed: bool = True,
    checks: tuple[CheckResult, ...] = (),
    failures: int | None = None,
    paired: int | None = None,
) -> Decision:
    return _decision(
        state,
        DecisionKind.HOLD,
        reason,
        state.phase,
        state.step,
        state.weight,
        analysed=analysed,
        checks=checks,
        failures=failures,
        paired=paired,
    )


def _decision(
    state: RolloutState,
    kind: DecisionKind,
    reason: str,
    phase: Phase,
    step: int,
    weight: int,
    *,
    analysed: bool = True,
    checks: tuple[CheckResult, ...] = (),
    failures: int | None = None,
    paired: int | None = None,
) -> Decision:
    return Decision(
        kind=kind,
        reason=reason,
        phase=phase,
        step=step,
        weight=weight,
        failures=state.failures if failures is None else failures,
        paired_samples=state.paired_samples if paired is None else paired,
        analysed=analysed,
        checks=checks,
    )


def paired_samples_in(results: Iterable[CheckResult]) -> int:
    """Samples one shadow analysis added: the largest count among paired checks (any check if none is)."""
    results = tuple(results)
    paired = [r.samples for r in results if r.kind in PAIRED_KINDS]
    return max(paired or [r.samples for r in results], default=0)
