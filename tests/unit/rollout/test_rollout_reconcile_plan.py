"""The one reconcile plan, without a server, a clock or a registry: every combination of what can be observed.

Given a rollout state (none, running, ended, with its left-behind server due or retired), what the
registry says (champion, challenger alias), whether the challenger's server answers, the checks (or
none measured), a by-hand command and a backend that can or cannot split traffic, the plan is
checked against the rules both controllers follow, case by case and over the whole product.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest

from kubeloop.analysis.results import CheckResult, Verdict
from kubeloop.rollout.actions import FlipAliases, RetireServer, SetAlias, SetRoutes
from kubeloop.rollout.engine import manual_promote, manual_rollback
from kubeloop.rollout.plan import apply
from kubeloop.rollout.reconcile import (
    REFUSED,
    STABLE,
    WAITING,
    Observed,
    PromoteNow,
    ReconcilePlan,
    RollBack,
    RolloutTarget,
    StartRollout,
    plan_reconcile,
    retirement_due,
    serving_routes,
)
from kubeloop.rollout.state import Phase, RolloutState, initial_state
from kubeloop.routing.base import RouteChange, Routes
from kubeloop.spec import RolloutSpec

SPEC = RolloutSpec.model_validate(
    {
        "shadow": {"duration": 0, "minSamples": 1},
        "canary": {"steps": [10, 50], "interval": 10},
        "keepPreviousWarm": 100,
    }
)
TARGET = RolloutTarget(deployment="iris", model="clf", strategy=SPEC)
T0 = 1000.0
NOW = T0 + 20  # an analysis interval after the step began


def measured(verdict: Verdict) -> tuple[CheckResult, ...]:
    return tuple(
        CheckResult(name=c.name, kind=c.kind, verdict=verdict, value=0.0, threshold=c.threshold, samples=500)
        for c in SPEC.checks
    )


def started(at: float = T0) -> RolloutState:
    return initial_state(deployment="iris", model="clf", champion="1", challenger="2", spec=SPEC, now=at)


def settled(state: RolloutState) -> RolloutState:
    """The state once its pending actions ran (what a controller hands the plan)."""
    return state.evolve(pending=())


def promoted(at: float = T0) -> RolloutState:
    state = started(at)
    return settled(apply(state, manual_promote(state), now=at))


def rolled_back(at: float = T0) -> RolloutState:
    state = started(at)
    return settled(apply(state, manual_rollback(state), now=at))


def retired(state: RolloutState) -> RolloutState:
    assert state.retirement is not None
    return state.evolve(retirement=state.retirement.model_copy(update={"done_at": state.retirement.due_at}))


STATES = {
    "none": None,
    "shadow": started(),
    "canary": settled(started().evolve(phase=Phase.CANARY, step=0, weight=10)),
    "promoted-warm": promoted(at=NOW - 10),
    "promoted-cold": promoted(at=NOW - 200),
    "promoted-retired": retired(promoted(at=NOW - 200)),
    "rolled-back-due": rolled_back(at=NOW - 10),
    "rolled-back-retired": retired(rolled_back(at=NOW - 10)),
}
REQUESTS = {
    "none": None,
    "start-2": StartRollout(version="2"),
    "start-3": StartRollout(version="3"),
    "start-champion": StartRollout(version="1"),
    "promote": PromoteNow(),
    "rollback": RollBack(reason="by hand"),
}


def plan(state: RolloutState | None, **seen: object) -> ReconcilePlan:
    observed = Observed(**{"champion": "1", **seen})  # type: ignore[arg-type]
    return plan_reconcile(spec=TARGET, observed=observed, state=state, now=NOW)


# Given / When / Then, one rule at a time.


def test_an_idle_deployment_serves_its_champion_and_does_nothing() -> None:
    found = plan(None)
    assert (found.outcome, found.serving, found.state, found.refused) == (
        STABLE,
        Routes(stable="1"),
        None,
        None,
    )


def test_a_new_challenger_alias_waits_for_its_server_then_starts() -> None:
    waiting = plan(None, challenger="2")
    assert (waiting.outcome, waiting.start_server, waiting.state) == (WAITING, "2", None)
    ready = plan(None, challenger="2", ready=True)
    assert ready.outcome == "shadow" and ready.start_server is None and not ready.archive
    assert ready.state.challenger == "2" and ready.state.champion == "1"
    assert ready.state.pending == (
        SetAlias(model="clf", alias="challenger", version="2"),
        SetRoutes(deployment="iris", routes=Routes(stable="1", shadow="2", shadow_percent=100)),
    )


def test_the_alias_of_the_champion_or_of_the_last_rollout_starts_nothing() -> None:
    assert plan(None, challenger="1", ready=True).state is None
    assert plan(STATES["rolled-back-retired"], challenger="2", ready=True).state is None


def test_a_start_by_hand_is_refused_with_the_reason() -> None:
    assert (
        "already has a rollout of version 2 in canary"
        in plan(STATES["canary"], request=StartRollout(version="3")).refused
    )
    assert "already the champion" in plan(None, request=StartRollout(version="1"), ready=True).refused
    assert "no champion" in plan(None, champion=None, request=StartRollout(version="2"), ready=True).refused


def test_a_backend_that_cannot_split_refuses_the_start_but_keeps_serving() -> None:
    found = plan(None, challenger="2", ready=True, refusal="Standard mode: use istio")
    assert (found.outcome, found.refused, found.state, found.serving) == (
        REFUSED,
        "Standard mode: use istio",
        None,
        Routes(stable="1"),
    )


def test_a_running_rollout_is_analysed_only_when_measured() -> None:
    assert plan(STATES["canary"]).state is None
    passing = plan(STATES["canary"], measured=measured(Verdict.PASS))
    assert passing.outcome == "canary" and passing.state.weight == 50 and passing.decision.kind == "advance"
    (action,) = passing.state.pending
    assert action.routes == Routes(stable="1", canary="2", canary_weight=50)


def test_failing_checks_roll_back_and_schedule_the_challengers_retirement_now() -> None:
    state = settled(STATES["canary"].evolve(failures=SPEC.failure_limit - 1))
    found = plan(state, measured=measured(Verdict.FAIL))
    assert found.outcome == "rolled-back"
    assert found.state.pending[0] == SetRoutes(
        deployment="iris", routes=Routes(stable="1"), change=RouteChange.ROLLBACK
    )
    assert (found.state.retirement.version, found.state.retirement.due_at) == ("2", NOW)


def test_promotion_keeps_the_old_champion_warm_then_retires_it_once() -> None:
    state = STATES["canary"]
    found = plan(state, request=PromoteNow())
    assert [type(a) for a in found.state.pending][:3] == [SetRoutes, FlipAliases, SetRoutes]
    assert found.state.pending[2].change is RouteChange.PROMOTE
    assert (found.state.retirement.version, found.state.retirement.due_at) == ("1", NOW + 100)
    assert plan(STATES["promoted-warm"]).state is None, "not due during the warm period"
    due = plan(STATES["promoted-cold"])
    assert due.state.pending == (RetireServer(deployment="iris", version="1"),)
    assert due.state.retirement.done_at == NOW
    assert plan(STATES["promoted-retired"]).state is None, "retired once"


def test_a_late_rollback_is_allowed_only_while_the_old_champion_is_warm() -> None:
    late = plan(STATES["promoted-warm"], request=RollBack())
    assert late.outcome == "rolled-back" and late.refused is None
    assert FlipAliases(model="clf", new_champion="1", old_champion="2") in late.state.pending
    assert late.state.retirement.version == "2"
    assert "no longer kept warm" in plan(STATES["promoted-cold"], request=RollBack()).refused
    assert "already ended (rolled-back)" in plan(STATES["rolled-back-due"], request=PromoteNow()).refused


def test_a_new_rollout_retires_what_the_last_left_behind_unless_it_serves_again() -> None:
    again = plan(STATES["promoted-warm"], champion="2", request=StartRollout(version="3"), ready=True)
    assert again.archive and again.state.pending[0] == RetireServer(deployment="iris", version="1")
    reused = plan(STATES["promoted-warm"], champion="2", request=StartRollout(version="1"), ready=True)
    assert all(not isinstance(a, RetireServer) for a in reused.state.pending), (
        "version 1 serves the new rollout"
    )


def test_pending_actions_are_replayed_before_anything_is_decided() -> None:
    state = apply(started(), manual_rollback(started()), now=NOW)
    found = plan(state, request=PromoteNow(), measured=measured(Verdict.FAIL))
    assert (found.state, found.refused, found.start_server) == (None, None, None)


def test_the_retirement_rule_any_executor_runs() -> None:
    assert retirement_due(STATES["promoted-warm"], now=NOW) is None
    assert retirement_due(STATES["promoted-cold"], now=NOW).pending == (
        RetireServer(deployment="iris", version="1"),
    )
    assert retirement_due(STATES["canary"], now=NOW) is None and retirement_due(None, now=NOW) is None


# The whole product of what can be observed.


@dataclass(frozen=True)
class Case:
    state: str
    request: str
    champion: str | None
    challenger: str | None
    ready: bool
    verdict: Verdict | None
    refusal: str | None


CASES = [
    Case(*values)
    for values in itertools.product(
        STATES,
        REQUESTS,
        ("1", None),
        (None, "1", "2", "3"),
        (False, True),
        (None, Verdict.PASS, Verdict.FAIL),
        (None, "cannot split"),
    )
]


def run(case: Case) -> ReconcilePlan:
    observed = Observed(
        champion=case.champion,
        challenger=case.challenger,
        ready=case.ready,
        measured=None if case.verdict is None else measured(case.verdict),
        request=REQUESTS[case.request],
        refusal=case.refusal,
    )
    return plan_reconcile(spec=TARGET, observed=observed, state=STATES[case.state], now=NOW)


@pytest.mark.parametrize("state", STATES)
def test_every_combination_follows_the_rules(state: str) -> None:
    for case in (c for c in CASES if c.state == state):
        before = STATES[case.state]
        found = run(case)
        assert found == run(case), "pure: the same observation gives the same plan"
        assert STATES[case.state] is before
        request = REQUESTS[case.request]
        running = before is not None and not before.phase.terminal
        assert found.serving == serving_routes(before, champion=case.champion), case
        if found.start_server is not None:
            assert not case.ready and found.refused is None and found.outcome == WAITING, case
            assert found.state is None or all(isinstance(a, RetireServer) for a in found.state.pending), case
        if isinstance(request, PromoteNow | RollBack):
            assert (found.refused is None) == (found.state is not None), case
            assert found.start_server is None, "a by-hand command never starts a server"
        if found.state is not None and found.state is not before:
            _check_new_state(case, found)
        if case.verdict is None and running and request is None:
            assert found.state is None, "no decision without measurements"
        if case.refusal is not None and found.state is not None and found.state.started_at == NOW:
            pytest.fail(f"a backend that cannot split never starts a rollout: {case}")


def _check_new_state(case: Case, found: ReconcilePlan) -> None:
    after = found.state
    assert after is not None
    holds = found.decision is not None and found.decision.kind == "hold"
    assert bool(after.pending) != holds, f"every move, and no hold, comes with actions: {case}"
    routed = [a.routes for a in after.pending if isinstance(a, SetRoutes)]
    retire = [a.version for a in after.pending if isinstance(a, RetireServer)]
    if after.started_at == NOW:  # a new rollout
        assert case.ready and case.champion is not None and after.challenger != case.champion, case
        assert routed[-1].versions().keys() <= {after.champion, after.challenger}
        assert not set(retire) & {after.champion, after.challenger}, "never retire a version in use"
    for version in retire:
        final = (
            routed[-1]
            if routed
            else Routes(stable=after.challenger if after.phase is Phase.PROMOTED else after.champion)
        )
        assert version not in final.versions(), f"retired {version} while routed: {case}"
