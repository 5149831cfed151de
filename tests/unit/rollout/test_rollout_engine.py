"""The rollout engine: every rule exhaustively, without a server, a clock or a registry."""

from __future__ import annotations

import pytest

from kubeloop.analysis.results import CheckResult, Verdict
from kubeloop.rollout.engine import DecisionKind, decide, manual_promote, manual_rollback, next_analysis_at
from kubeloop.rollout.plan import apply
from kubeloop.rollout.state import Phase, RolloutState, initial_state
from kubeloop.spec import RolloutSpec

SPEC = RolloutSpec.model_validate(
    {
        "shadow": {"percent": 100, "duration": 10, "minSamples": 100},
        "canary": {"steps": [10, 25, 50], "interval": 5},
        "failureLimit": 2,
        "stepDeadline": 60,
    }
)


def results(
    verdict: Verdict = Verdict.PASS, *, samples: int = 200, only: str | None = None
) -> list[CheckResult]:
    """One result per check of SPEC; `only` gets `verdict`, the others pass (all get it when None)."""
    out = []
    for check in SPEC.checks:
        v = verdict if only in (None, check.name) else Verdict.PASS
        out.append(
            CheckResult(
                name=check.name,
                kind=check.kind,
                verdict=v,
                value=0.0,
                threshold=check.threshold,
                samples=samples,
                reason=v.value,
            )
        )
    return out


def start(spec: RolloutSpec = SPEC) -> RolloutState:
    return initial_state(deployment="iris", model="iris", champion="1", challenger="2", spec=spec, now=0.0)


def test_starts_in_shadow_with_no_live_weight() -> None:
    state = start()
    assert (state.phase, state.step, state.weight) == (Phase.SHADOW, -1, 0)


def test_without_shadow_starts_at_the_first_step() -> None:
    state = start(SPEC.model_copy(update={"shadow": None}))
    assert (state.phase, state.step, state.weight) == (Phase.CANARY, 0, 10)


def test_holds_until_the_next_analysis_is_due_without_counting() -> None:
    state = start()
    decision = decide(SPEC, state, results(Verdict.FAIL), now=next_analysis_at(SPEC, state) - 0.1)
    assert decision.kind is DecisionKind.HOLD and not decision.analysed
    assert decision.failures == 0 and "next analysis" in decision.reason
    assert apply(state, decision, now=4.9) == state


def test_shadow_holds_until_its_duration_then_advances_to_the_first_step() -> None:
    state = start()
    first = decide(SPEC, state, results(), now=5)
    assert first.kind is DecisionKind.HOLD and "shadow lasts" in first.reason
    state = apply(state, first, now=5)
    second = decide(SPEC, state, results(), now=10)
    assert (second.kind, second.phase, second.step, second.weight) == (
        DecisionKind.ADVANCE,
        Phase.CANARY,
        0,
        10,
    )


def test_shadow_needs_enough_paired_samples() -> None:
    state = start()
    state = apply(state, decide(SPEC, state, results(samples=60), now=5), now=5)
    decision = decide(SPEC, state, results(samples=30), now=10)
    assert decision.kind is DecisionKind.HOLD and "90 paired samples" in decision.reason
    state = apply(state, decision, now=10)
    assert decide(SPEC, state, results(samples=30), now=15).kind is DecisionKind.ADVANCE


def test_canary_walks_every_step_then_promotes() -> None:
    state = start(SPEC.model_copy(update={"shadow": None}))
    seen = [state.weight]
    now = 0.0
    while not state.phase.terminal:
        now += 5
        decision = decide(SPEC, state, results(), now=now)
        state = apply(state, decision, now=now)
        seen.append(state.weight)
    assert seen == [10, 25, 50, 100] and state.phase is Phase.PROMOTED
    assert [entry.kind for entry in state.history] == ["advance", "advance", "promote"]


def test_a_fail_holds_and_counts_then_the_limit_rolls_back() -> None:
    state = start(SPEC.model_copy(update={"shadow": None}))
    first = decide(SPEC, state, results(Verdict.FAIL, only="error-rate"), now=5)
    assert first.kind is DecisionKind.HOLD and first.failures == 1 and "(1/2)" in first.reason
    state = apply(state, first, now=5)
    second = decide(SPEC, state, results(Verdict.FAIL, only="error-rate"), now=10)
    assert (second.kind, second.phase, second.weight) == (DecisionKind.ROLLBACK, Phase.ROLLED_BACK, 0)
    assert "error-rate" in second.reason and "failure limit" in second.reason


def test_failures_count_across_steps() -> None:
    state = start(SPEC.model_copy(update={"shadow": None}))
    state = apply(state, decide(SPEC, state, results(Verdict.FAIL, only="latency-p99"), now=5), now=5)
    state = apply(state, decide(SPEC, state, results(), now=10), now=10)
    assert state.weight == 25 and state.failures == 1
    assert decide(SPEC, state, results(Verdict.FAIL), now=15).kind is DecisionKind.ROLLBACK


@pytest.mark.parametrize("verdict", [Verdict.INCONCLUSIVE])
def test_inconclusive_holds_the_step(verdict: Verdict) -> None:
    state = start(SPEC.model_copy(update={"shadow": None}))
    decision = decide(SPEC, state, results(verdict, only="error-rate"), now=5)
    assert decision.kind is DecisionKind.HOLD and decision.weight == 10 and decision.failures == 0
    assert "inconclusive" in decision.reason


def test_a_check_nobody_measured_is_inconclusive() -> None:
    state = start(SPEC.model_copy(update={"shadow": None}))
    decision = decide(SPEC, state, results()[:1], now=5)
    assert decision.kind is DecisionKind.HOLD and "not measured" in decision.reason


def test_disagreement_is_not_needed_once_live() -> None:
    state = start(SPEC.model_copy(update={"shadow": None}))
    live = [r for r in results() if r.kind != "disagreement"]
    assert decide(SPEC, state, live, now=5).kind is DecisionKind.ADVANCE


def test_step_deadline_aborts_a_step_that_stays_inconclusive() -> None:
    state = start(SPEC.model_copy(update={"shadow": None}))
    decision = decide(SPEC, state, results(Verdict.INCONCLUSIVE), now=61)
    assert (decision.kind, decision.phase, decision.weight) == (DecisionKind.ABORT, Phase.ABORTED, 0)
    assert "deadline" in decision.reason


def test_terminal_states_do_nothing() -> None:
    state = start().evolve(phase=Phase.ROLLED_BACK)
    decision = decide(SPEC, state, results(), now=100)
    assert decision.kind is DecisionKind.HOLD and not decision.analysed


def test_manual_promote_and_rollback() -> None:
    state = start()
    assert (manual_promote(state).phase, manual_promote(state).weight) == (Phase.PROMOTED, 100)
    rollback = manual_rollback(state, reason="bad feeling")
    assert (rollback.kind, rollback.weight, rollback.reason) == (DecisionKind.ROLLBACK, 0, "bad feeling")
