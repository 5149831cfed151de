"""The rollout state kept in the ModelDeployment's status, so a restarted operator resumes where it was.

It offers the rollout controller the same operations as the local state file (load, require, save,
archive, lock). Every save writes the whole status through the status subresource with the
resourceVersion it read, so a concurrent writer is never overwritten silently (409 -> read again).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from kubeloop.errors import NotFoundError
from kubeloop.k8s.api import KubeApi, Ref
from kubeloop.k8s.crd import GROUP, PLURAL, VERSION
from kubeloop.rollout.state import Phase, RolloutState

# The history grows by one entry per analysis; the status keeps the latest (etcd objects stay small).
HISTORY_KEPT = 50
_RESULTS = {"pass": "Pass", "fail": "Fail", "inconclusive": "Inconclusive"}


def deployment_ref(*, namespace: str, name: str) -> Ref:
    """Where a ModelDeployment lives in the API."""
    return Ref(group=GROUP, version=VERSION, plural=PLURAL, namespace=namespace, name=name)


def _time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_from_state(state: RolloutState) -> dict[str, Any]:
    """The status fields a rollout state shows (`kubectl get md` columns read these)."""
    shadow = state.spec.shadow
    status: dict[str, Any] = {
        "phase": state.phase.value,
        "champion": state.champion,
        "challenger": state.challenger,
        "canaryWeight": state.weight if state.phase is Phase.CANARY else 0,
        "shadowPercent": shadow.percent if state.phase is Phase.SHADOW and shadow else 0,
        "step": max(state.step, 0),
        "checks": [
            {
                "name": c.name,
                "result": _RESULTS[c.verdict.value],
                "value": c.value,
                "threshold": c.threshold,
                "message": c.reason,
            }
            for c in state.latest_checks
        ],
        "rollout": state.evolve(history=state.history[-HISTORY_KEPT:]).to_dict(),
    }
    if state.history:
        last = state.history[-1]
        status["lastDecision"] = {"action": last.kind, "reason": last.reason, "time": _time(last.at)}
    return status


class StatusStateStore:
    """Rollout state of the ModelDeployments of one namespace, in their status."""

    def __init__(self, *, api: KubeApi, namespace: str) -> None:
        self.api, self.namespace = api, namespace

    def _ref(self, deployment: str) -> Ref:
        return deployment_ref(namespace=self.namespace, name=deployment)

    def load(self, deployment: str) -> RolloutState | None:
        """The rollout state in the status, or None when there is none."""
        obj = self.api.get(self._ref(deployment))
        data = (obj or {}).get("status", {}).get("rollout")
        return RolloutState.from_dict(data) if data else None

    def require(self, deployment: str) -> RolloutState:
        """The rollout state, or NotFoundError naming the deployment."""
        state = self.load(deployment)
        if state is None:
            raise NotFoundError(f"ModelDeployment {deployment!r} has no rollout")
        return state

    def save(self, state: RolloutState) -> None:
        """Write the state and the fields derived from it into the status."""
        fields = status_from_state(state)

        def mutate(obj: dict[str, Any]) -> dict[str, Any]:
            obj["status"] = {**obj.get("status", {}), **fields}
            if "lastDecision" not in fields:
                obj["status"].pop("lastDecision", None)
            return obj

        self.api.update(self._ref(state.deployment), mutate, status=True)

    def archive(self, deployment: str) -> None:
        """Clear the finished rollout so a new one can start (its outcome is tagged on the model version)."""

        def mutate(obj: dict[str, Any]) -> dict[str, Any] | None:
            if "rollout" not in obj.get("status", {}):
                return None
            obj["status"].pop("rollout")
            return obj

        self.api.update(self._ref(deployment), mutate, status=True)

    @contextmanager
    def lock(self, deployment: str) -> Iterator[None]:
        """Nothing to take: kopf runs one handler per object at a time; peering keeps one operator active."""
        yield
