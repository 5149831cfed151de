"""From a decision to the new state and the actions that carry it out, as pure functions.

Actions are plain, idempotent records (set routes, flip aliases, tag a version). The new state is
persisted with its actions pending before any is carried out, so a controller killed half-way
replays exactly the same actions on restart and none twice in effect.
"""

from __future__ import annotations

from kubeloop.registry.names import CHALLENGER, TAG_ROLLOUT_OUTCOME, TAG_ROLLOUT_REASON
from kubeloop.rollout.actions import Action, FlipAliases, SetAlias, SetRoutes, TagVersion
from kubeloop.rollout.engine import Decision, DecisionKind
from kubeloop.rollout.state import HistoryEntry, Phase, Retirement, RolloutState
from kubeloop.routing.base import RouteChange, Routes

MAX_HISTORY = 500


def routes_for(state: RolloutState, *, phase: Phase, weight: int) -> Routes:
    """The routes a phase and weight mean for this rollout's champion and challenger."""
    if phase is Phase.SHADOW:
        assert state.spec.shadow is not None
        return Routes(
            stable=state.champion, shadow=state.challenger, shadow_percent=state.spec.shadow.percent
        )
    if phase is Phase.CANARY:
        return Routes(stable=state.champion, canary=state.challenger, canary_weight=weight)
    if phase is Phase.PROMOTED:
        return Routes(stable=state.challenger)
    return Routes(stable=state.champion)


def start_actions(state: RolloutState) -> tuple[Action, ...]:
    """What starting a rollout does: mark the version as the challenger, then route the first phase."""
    routes = routes_for(state, phase=state.phase, weight=state.weight)
    return (
        SetAlias(model=state.model, alias=CHALLENGER, version=state.challenger),
        SetRoutes(deployment=state.deployment, routes=routes),
    )


def actions_for(state: RolloutState, decision: Decision) -> tuple[Action, ...]:
    """The actions that carry out a decision taken in `state`; a hold does nothing."""
    deployment, model = state.deployment, state.model
    if decision.kind is DecisionKind.HOLD:
        return ()
    if decision.kind is DecisionKind.ADVANCE:
        routes = routes_for(state, phase=decision.phase, weight=decision.weight)
        return (SetRoutes(deployment=deployment, routes=routes),)
    if decision.kind is DecisionKind.PROMOTE:
        full = Routes(stable=state.champion, canary=state.challenger, canary_weight=100)
        promoted = Routes(stable=state.challenger)
        return (
            SetRoutes(deployment=deployment, routes=full),
            FlipAliases(model=model, new_champion=state.challenger, old_champion=state.champion),
            SetRoutes(deployment=deployment, routes=promoted, change=RouteChange.PROMOTE),
            TagVersion(model=model, version=state.challenger, tags=_outcome("promoted", decision.reason)),
        )
    outcome = "rolled-back" if decision.kind is DecisionKind.ROLLBACK else "aborted"
    back = SetRoutes(deployment=deployment, routes=Routes(stable=state.champion), change=RouteChange.ROLLBACK)
    tag = TagVersion(model=model, version=state.challenger, tags=_outcome(outcome, decision.reason))
    if state.phase is Phase.PROMOTED:
        # A late rollback while the old champion is still warm: it gets the traffic and its alias back.
        restore = FlipAliases(model=model, new_champion=state.champion, old_champion=state.challenger)
        return (back, restore, tag)
    return (back, tag)


def apply(state: RolloutState, decision: Decision, *, now: float) -> RolloutState:
    """The state after a decision, with its actions pending and the decision appended to the history."""
    if decision.kind is DecisionKind.HOLD and not decision.analysed:
        return state
    entry = HistoryEntry(
        at=now,
        kind=decision.kind.value,
        reason=decision.reason,
        phase=decision.phase,
        step=decision.step,
        weight=decision.weight,
        failures=decision.failures,
        checks=decision.checks,
    )
    moved = decision.step != state.step or decision.phase is not state.phase
    pending = actions_for(state, decision)
    return state.evolve(
        phase=decision.phase,
        step=decision.step,
        weight=decision.weight,
        failures=decision.failures,
        paired_samples=0 if moved else decision.paired_samples,
        step_started_at=now if moved else state.step_started_at,
        last_analysis_at=now if decision.analysed or moved else state.last_analysis_at,
        pending=state.pending + pending,
        history=(state.history + (entry,))[-MAX_HISTORY:],
        retirement=_retirement(state, decision, now=now),
        revision=state.revision + 1,
    )


def _retirement(state: RolloutState, decision: Decision, *, now: float) -> Retirement | None:
    """What an ending decision leaves behind: the old champion after its warm period, else the challenger."""
    if decision.kind is DecisionKind.PROMOTE:
        return Retirement(version=state.champion, due_at=now + state.spec.keep_previous_warm)
    if decision.kind in (DecisionKind.ROLLBACK, DecisionKind.ABORT):
        return Retirement(version=state.challenger, due_at=now)
    return state.retirement


def _outcome(outcome: str, reason: str) -> dict[str, str]:
    return {TAG_ROLLOUT_OUTCOME: outcome, TAG_ROLLOUT_REASON: reason[:500]}
