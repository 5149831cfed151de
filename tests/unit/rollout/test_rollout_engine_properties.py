"""Property-based tests of the engine: whatever the checks say and whenever they say it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kubeloop.analysis.assess import assess
from kubeloop.analysis.results import CheckResult, Verdict
from kubeloop.rollout.engine import DecisionKind, decide
from kubeloop.rollout.plan import apply
from kubeloop.rollout.state import Phase, initial_state
from kubeloop.spec import CheckSpec, RolloutSpec

verdicts = st.sampled_from(list(Verdict))
weights = st.lists(st.integers(1, 100), min_size=1, max_size=5, unique=True).map(sorted)


@st.composite
def specs(draw: st.DrawFn) -> RolloutSpec:
    shadow = draw(
        st.one_of(st.none(), st.builds(dict, duration=st.integers(0, 20), minSamples=st.integers(1, 300)))
    )
    return RolloutSpec.model_validate(
        {
            "shadow": shadow,
            "canary": {"steps": draw(weights), "interval": draw(st.integers(1, 10))},
            "failureLimit": draw(st.integers(1, 4)),
            "stepDeadline": draw(st.integers(30, 200)),
        }
    )


@st.composite
def rounds(draw: st.DrawFn, spec: RolloutSpec) -> list[tuple[float, list[CheckResult]]]:
    out = []
    for _ in range(draw(st.integers(1, 30))):
        dt = draw(st.floats(0, 15))
        measured = [
            CheckResult(
                name=c.name,
                kind=c.kind,
                verdict=draw(verdicts),
                value=0.0,
                threshold=c.threshold,
                samples=draw(st.integers(0, 200)),
                reason="",
            )
            for c in spec.checks
        ]
        out.append((dt, measured))
    return out


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_engine_invariants(data: st.DataObject) -> None:
    spec = data.draw(specs())
    state = initial_state(deployment="d", model="m", champion="1", challenger="2", spec=spec, now=0.0)
    now = 0.0
    for dt, measured in data.draw(rounds(spec)):
        now += dt
        before = state
        decision = decide(spec, state, measured, now=now)
        verdicts_seen = {r.verdict for r in decision.checks}
        if decision.kind in (DecisionKind.ADVANCE, DecisionKind.PROMOTE):
            # Never promotes or advances on a Fail or an Inconclusive.
            assert verdicts_seen == {Verdict.PASS}
        if decision.kind is DecisionKind.ADVANCE:
            # Never skips a step.
            assert decision.step == before.step + 1
            assert decision.weight == spec.canary.steps[decision.step]
        if decision.kind is DecisionKind.PROMOTE:
            assert before.step == len(spec.canary.steps) - 1
        if decision.analysed and Verdict.FAIL in verdicts_seen:
            assert decision.failures == before.failures + 1
            # Always rolls back once the failures reach the limit, and only then.
            rolled = decision.kind is DecisionKind.ROLLBACK
            assert rolled == (decision.failures >= spec.failure_limit)
        elif not before.phase.terminal:
            assert decision.failures == before.failures
        if Verdict.INCONCLUSIVE in verdicts_seen and Verdict.FAIL not in verdicts_seen:
            assert decision.kind in (DecisionKind.HOLD, DecisionKind.ABORT)
        if before.phase.terminal:
            assert decision.kind is DecisionKind.HOLD and not decision.analysed
        state = apply(state, decision, now=now)
        assert state.weight in (0, 100, *spec.canary.steps)


@given(
    threshold=st.floats(0, 10, allow_nan=False),
    value=st.floats(0, 10, allow_nan=False),
    needed=st.integers(1, 500),
    samples=st.integers(0, 1000),
)
def test_too_little_data_is_inconclusive_else_the_threshold_decides(
    threshold: float, value: float, needed: int, samples: int
) -> None:
    check = CheckSpec(name="c", kind="error-rate", threshold=threshold, min_samples=needed)
    result = assess(check, value=value, samples=samples)
    if samples < needed:
        assert result.verdict is Verdict.INCONCLUSIVE
    else:
        assert result.verdict is (Verdict.PASS if value <= threshold else Verdict.FAIL)


def test_missing_value_is_inconclusive() -> None:
    check = CheckSpec(name="c", kind="error-rate", threshold=0.1, min_samples=1)
    assert assess(check, value=None, samples=1000).verdict is Verdict.INCONCLUSIVE
    assert assess(check, value=float("nan"), samples=1000).verdict is Verdict.INCONCLUSIVE


def test_min_direction_passes_at_or_above_the_threshold() -> None:
    check = CheckSpec(name="acc", kind="promql", query="x", threshold=0.9, direction="min", min_samples=1)
    assert assess(check, value=0.95, samples=5).verdict is Verdict.PASS
    assert assess(check, value=0.85, samples=5).verdict is Verdict.FAIL


def test_terminal_phases() -> None:
    assert Phase.PROMOTED.terminal and Phase.ROLLED_BACK.terminal and not Phase.CANARY.terminal
