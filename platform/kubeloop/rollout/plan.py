"""From a decision to the new state and the actions that carry it out, as pure functions.

Actions are plain, idempotent records (set routes, flip aliases, tag a version). The new state is
persisted with its actions pending before any is carried out, so a controller killed half-way
replays exactly the same actions on restart and none twice in effect.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from kubeloop.registry.names import CHALLENGER, TAG_ROLLOUT_OUTCOME, TAG_ROLLOUT_REASON
from kubeloop.rollout.engine import Decision, DecisionKind
from kubeloop.rollout.state import HistoryEntry, Phase, RolloutState
from kubeloop.routing.base import Routes

MAX_HISTORY = 500


@dataclass(frozen=True, kw_only=True)
class SetRoutes:
    """Send the deployment's traffic as `routes` says."""

    deployment: str
    routes: Routes
    kind: str = "routes"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly mapping."""
        return {"kind": self.kind, "deployment": self.deployment, "routes": asdict(self.routes)}


@dataclass(frozen=True, kw_only=True)
class FlipAliases:
    """Make `new_champion` the champion, alias the old one `previous` and drop the challenger alias."""

    model: str
    new_champion: str
    old_champion: str
    kind: str = "aliases"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly mapping."""
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class TagVersion:
    """Record tags (outcome, reason) on a model version."""

    model: str
    version: str
    tags: dict[str, str] = field(default_factory=dict)
    kind: str = "tag"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly mapping."""
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class SetAlias:
    """Point an alias at a version (the rollout marks its version `challenger` when it starts)."""

    model: str
    alias: str
    version: str
    kind: str = "alias"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly mapping."""
        return asdict(self)


Action = SetRoutes | FlipAliases | TagVersion | SetAlias


def action_from_dict(data: dict[str, Any]) -> Action:
    """Read back what an action's `to_dict` wrote."""
    fields = {k: v for k, v in data.items() if k != "kind"}
    if data["kind"] == "routes":
        return SetRoutes(deployment=fields["deployment"], routes=Routes(**fields["routes"]))
    if data["kind"] == "aliases":
        return FlipAliases(**fields)
    if data["kind"] == "tag":
        return TagVersion(**fields)
    if data["kind"] == "alias":
        return SetAlias(**fields)
    raise ValueError(f"unknown action kind {data['kind']!r}")


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
        return (
            SetRoutes(deployment=deployment, routes=full),
            FlipAliases(model=model, new_champion=state.challenger, old_champion=state.champion),
            SetRoutes(deployment=deployment, routes=Routes(stable=state.challenger)),
            TagVersion(model=model, version=state.challenger, tags=_outcome("promoted", decision.reason)),
        )
    outcome = "rolled-back" if decision.kind is DecisionKind.ROLLBACK else "aborted"
    back = SetRoutes(deployment=deployment, routes=Routes(stable=state.champion))
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
    pending = tuple(action.to_dict() for action in actions_for(state, decision))
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
        previous_warm_until=(
            now + state.spec.keep_previous_warm if decision.kind is DecisionKind.PROMOTE else None
        ),
        revision=state.revision + 1,
    )


def _outcome(outcome: str, reason: str) -> dict[str, str]:
    return {TAG_ROLLOUT_OUTCOME: outcome, TAG_ROLLOUT_REASON: reason[:500]}
