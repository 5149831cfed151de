"""A ModelDeployment's rollout as `kubeloop k8s rollout status` shows it, read from the object the API
server holds: phase, where the traffic goes, champion and challenger, checks, the last decision and the
last by-hand command. The champion now (the challenger once its promotion flipped the aliases) and the
one it replaced come from the rollout state in the status; `status.champion` alone serves when there is
no rollout. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubeloop.k8s.commands import pending_command
from kubeloop.rollout.plan import routes_for
from kubeloop.rollout.progress import champion_now, previous_champion
from kubeloop.rollout.state import RolloutState
from kubeloop.routing.base import Routes

STABLE = "stable"  # the phase of a deployment with no rollout


@dataclass(frozen=True, kw_only=True)
class RolloutView:
    """One ModelDeployment's rollout, as far as its status tells."""

    deployment: str
    namespace: str
    phase: str
    champion: str | None
    challenger: str | None
    previous: str | None
    routes: Routes | None
    step: int
    checks: tuple[dict[str, Any], ...]
    last_decision: dict[str, Any] | None
    last_command: dict[str, Any] | None
    pending_command: dict[str, str] | None  # given in the annotation, not answered yet

    def weights(self) -> dict[str, int]:
        """Percent of live requests each version answers (the shadow's mirrored copies not counted)."""
        if self.routes is None:
            return {}
        routes = self.routes
        split = {routes.stable: 100 - routes.canary_weight}
        if routes.canary is not None:
            split[routes.canary] = split.get(routes.canary, 0) + routes.canary_weight
        return split

    def to_dict(self) -> dict[str, Any]:
        """The view as JSON (`--json`)."""
        routes = self.routes
        return {
            "deployment": self.deployment,
            "namespace": self.namespace,
            "phase": self.phase,
            "champion": self.champion,
            "challenger": self.challenger,
            "previous": self.previous,
            "weights": self.weights(),
            "shadow": None if routes is None else routes.shadow,
            "shadowPercent": 0 if routes is None else routes.shadow_percent,
            "step": self.step,
            "checks": list(self.checks),
            "lastDecision": self.last_decision,
            "lastCommand": self.last_command,
            "pendingCommand": self.pending_command,
        }


def rollout_view(obj: dict[str, Any]) -> RolloutView:
    """The rollout of a ModelDeployment object (`{}` status before the operator wrote one)."""
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    data = status.get("rollout")
    state = RolloutState.model_validate(data) if data else None
    champion = None if state is None else champion_now(state)
    if state is None and status.get("champion"):
        champion = str(status["champion"])
    return RolloutView(
        deployment=str(meta.get("name", "")),
        namespace=str(meta.get("namespace", "")),
        phase=str(status.get("phase") or STABLE) if state is None else state.phase.value,
        champion=champion,
        challenger=None if state is None else state.challenger,
        previous=None if state is None else previous_champion(state),
        routes=_routes(state, champion=champion),
        step=int(status.get("step") or 0),
        checks=tuple(status.get("checks") or ()),
        last_decision=status.get("lastDecision"),
        last_command=status.get("lastCommand"),
        pending_command=_pending(obj),
    )


def _routes(state: RolloutState | None, *, champion: str | None) -> Routes | None:
    """The routes the rollout is at, else the champion's alone (None before there is a champion)."""
    if state is not None:
        return routes_for(state, phase=state.phase, weight=state.weight)
    return None if champion is None else Routes(stable=champion)


def _pending(obj: dict[str, Any]) -> dict[str, str] | None:
    """The annotation's command the operator has not answered yet."""
    command = pending_command(obj)
    if command is None:
        return None
    return {"id": command.id, "action": command.action, "reason": command.reason}

