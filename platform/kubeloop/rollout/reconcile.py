"""The one reconcile plan of both controllers: `plan_reconcile(spec, observed, state, now)`, a pure function.

The local controller and the operator both observe (the registry's aliases, whether the challenger's
server answers, the checks when an analysis is due, a by-hand command), ask this function what to do,
then carry the plan out: converge the backend on `serving`, start a server, save the new state and
run its pending actions. It is Argo Rollouts' reconcile -> assess -> sync with the assess kept pure,
and Flagger's advanceCanary with its decisions taken out of the API calls.

A running rollout follows the strategy it started with (kept in its state); `spec.strategy` is what a
new rollout starts with.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubeloop.analysis.results import CheckResult
from kubeloop.rollout.actions import Action, RetireServer
from kubeloop.rollout.engine import Decision, decide, manual_promote, manual_rollback
from kubeloop.rollout.plan import apply, routes_for, start_actions
from kubeloop.rollout.state import Phase, RolloutState, initial_state
from kubeloop.routing.base import Routes
from kubeloop.spec import RolloutSpec

WAITING = "waiting-for-challenger"
REFUSED = "refused"
STABLE = "stable"


@dataclass(frozen=True, kw_only=True)
class RolloutTarget:
    """What rolls out: the deployment, its registered model and the strategy a new rollout follows."""

    deployment: str
    model: str
    strategy: RolloutSpec


@dataclass(frozen=True, kw_only=True)
class StartRollout:
    """A by-hand `rollout start` of a version (the operator follows the challenger alias instead)."""

    version: str


@dataclass(frozen=True, kw_only=True)
class PromoteNow:
    """A by-hand promotion: skip the remaining steps."""

    reason: str = "promoted by hand"


@dataclass(frozen=True, kw_only=True)
class RollBack:
    """A by-hand rollback: every request back to the champion at once."""

    reason: str = "rolled back by hand"


Request = StartRollout | PromoteNow | RollBack


@dataclass(frozen=True, kw_only=True)
class Observed:
    """What the controller saw just before planning."""

    champion: str | None = None  # the registry's champion (or the version the spec pins)
    challenger: str | None = None  # the challenger alias, which the operator rolls out on an idle deployment
    ready: bool = False  # whether the server of the version a start needs (`start_candidate`) answers
    measured: tuple[CheckResult, ...] | None = None  # the checks, measured only when an analysis is due
    request: Request | None = None
    refusal: str | None = None  # why the traffic backend cannot split traffic here, if it cannot


@dataclass(frozen=True, kw_only=True)
class ReconcilePlan:
    """What to do now; the executor does it in field order."""

    outcome: str  # "stable", the rollout's phase, "waiting-for-challenger" or "refused"
    serving: Routes | None = None  # what the backend must carry before anything else runs
    start_server: str | None = None  # a version whose server must start before its rollout can
    archive: bool = False  # set the finished rollout aside before saving `state`
    state: RolloutState | None = None  # the new state to save, its actions pending (None: unchanged)
    decision: Decision | None = None
    refused: str | None = None  # why a by-hand command (or a start) cannot be done


def plan_reconcile(
    *, spec: RolloutTarget, observed: Observed, state: RolloutState | None, now: float
) -> ReconcilePlan:
    """Decide the next move of a deployment's rollout from what was observed; no I/O, no clock."""
    serving = serving_routes(state, champion=observed.champion)
    request = observed.request
    if state is not None and state.pending:
        return ReconcilePlan(outcome=state.phase.value, serving=serving)  # replay those first
    if isinstance(request, PromoteNow | RollBack):
        return _by_hand(state, request, serving=serving, now=now)
    if isinstance(request, StartRollout) or (state is None or state.phase.terminal):
        candidate = start_candidate(observed=observed, state=state)
        if candidate is not None:
            return _start(spec, observed, state, candidate, serving=serving, now=now)
    if state is not None and not state.phase.terminal:
        return _analyse(state, observed.measured, serving=serving, now=now)
    return _retire_if_due(state, serving=serving, now=now)


def serving_routes(state: RolloutState | None, *, champion: str | None) -> Routes | None:
    """The routes in effect: the rollout's while it runs, else the champion's (None: nothing to serve)."""
    if state is not None and not state.done:
        return routes_for(state, phase=state.phase, weight=state.weight)
    return None if champion is None else Routes(stable=champion)


def start_candidate(*, observed: Observed, state: RolloutState | None) -> str | None:
    """The version a start would roll out: the one asked for, else a new challenger alias when idle."""
    if isinstance(observed.request, StartRollout):
        return observed.request.version
    found = observed.challenger
    idle = state is None or state.done
    if not idle or found is None or found == observed.champion:
        return None
    return None if state is not None and state.challenger == found else found


def retirement_due(state: RolloutState | None, *, now: float) -> RolloutState | None:
    """The state with the left-behind server's retirement pending, when it is due (any executor runs it)."""
    if state is None or not state.done or state.retirement is None or not state.retirement.due(now=now):
        return None
    retire = RetireServer(deployment=state.deployment, version=state.retirement.version)
    return state.evolve(retirement=state.retirement.model_copy(update={"done_at": now}), pending=(retire,))


def _start(
    spec: RolloutTarget,
    observed: Observed,
    state: RolloutState | None,
    version: str,
    *,
    serving: Routes | None,
    now: float,
) -> ReconcilePlan:
    refused = _start_refusal(spec, observed, state, version)
    if refused is not None:
        return ReconcilePlan(
            outcome=REFUSED, serving=serving, refused=refused, state=retirement_due(state, now=now)
        )
    if not observed.ready:
        return ReconcilePlan(
            outcome=WAITING, serving=serving, start_server=version, state=retirement_due(state, now=now)
        )
    assert observed.champion is not None  # _start_refusal refuses a start without a champion
    fresh = initial_state(
        deployment=spec.deployment,
        model=spec.model,
        champion=observed.champion,
        challenger=version,
        spec=spec.strategy,
        now=now,
    )
    pending = _outstanding_retirement(state, fresh) + start_actions(fresh)
    return ReconcilePlan(
        outcome=fresh.phase.value,
        serving=serving,
        archive=state is not None,
        state=fresh.evolve(pending=pending),
    )


def _start_refusal(
    spec: RolloutTarget, observed: Observed, state: RolloutState | None, version: str
) -> str | None:
    if state is not None and not state.phase.terminal:
        return (
            f"deployment {spec.deployment!r} already has a rollout of version {state.challenger} in "
            f"{state.phase.value}; promote or roll it back first"
        )
    if observed.champion is None:
        return f"model {spec.model!r} has no champion to compare version {version} with"
    if observed.champion == version:
        return f"version {version} of {spec.model!r} is already the champion"
    return observed.refusal


def _outstanding_retirement(state: RolloutState | None, fresh: RolloutState) -> tuple[Action, ...]:
    """A new rollout retires what the last one left behind at once, unless it serves in the new one."""
    if state is None or state.retirement is None or state.retirement.done_at is not None:
        return ()
    if state.retirement.version in (fresh.champion, fresh.challenger):
        return ()
    return (RetireServer(deployment=state.deployment, version=state.retirement.version),)


def _analyse(
    state: RolloutState, measured: tuple[CheckResult, ...] | None, *, serving: Routes | None, now: float
) -> ReconcilePlan:
    if measured is None:
        return ReconcilePlan(outcome=state.phase.value, serving=serving)
    decision = decide(state.spec, state, measured, now=now)
    after = apply(state, decision, now=now)
    changed = None if after is state else after
    return ReconcilePlan(outcome=after.phase.value, serving=serving, state=changed, decision=decision)


def _by_hand(
    state: RolloutState | None, request: PromoteNow | RollBack, *, serving: Routes | None, now: float
) -> ReconcilePlan:
    if state is None:
        return ReconcilePlan(outcome=STABLE, serving=serving, refused="there is no rollout to act on")
    refused = _by_hand_refusal(state, request, now=now)
    if refused is not None:
        return ReconcilePlan(outcome=state.phase.value, serving=serving, refused=refused)
    choose = manual_promote if isinstance(request, PromoteNow) else manual_rollback
    decision = choose(state, reason=request.reason)
    after = apply(state, decision, now=now)
    return ReconcilePlan(outcome=after.phase.value, serving=serving, state=after, decision=decision)


def _by_hand_refusal(state: RolloutState, request: PromoteNow | RollBack, *, now: float) -> str | None:
    """After promotion, rolling back is allowed while the previous champion's server is kept warm."""
    if not state.phase.terminal:
        return None
    if state.phase is not Phase.PROMOTED or not isinstance(request, RollBack):
        return f"the rollout of {state.deployment!r} already ended ({state.phase.value})"
    warm = state.retirement is not None and state.retirement.done_at is None and now < state.retirement.due_at
    if warm:
        return None
    return (
        f"version {state.challenger} was promoted and version {state.champion} is no longer "
        f"kept warm; roll version {state.champion} out again to go back"
    )


def _retire_if_due(state: RolloutState | None, *, serving: Routes | None, now: float) -> ReconcilePlan:
    outcome = STABLE if state is None else state.phase.value
    return ReconcilePlan(outcome=outcome, serving=serving, state=retirement_due(state, now=now))
