"""The rollout state kept in the ModelDeployment's status, so a restarted operator resumes where it was.

It implements the StateStore port as the local state file does (load, require, save, archive, lock).
Every write replaces the status through the status subresource carrying the resourceVersion this
store last read or wrote: when anyone else wrote in between, the API server answers 409 and the write
raises StateConflict, so the controller reads again and decides again rather than re-sending a state
computed before the other write (which would lose it).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from kubeloop.errors import NotFoundError
from kubeloop.k8s.api import Conflict, Gone, KubeApi, Ref
from kubeloop.k8s.crd import GROUP, PLURAL, VERSION
from kubeloop.rollout.progress import champion_now
from kubeloop.rollout.state import Phase, RolloutState
from kubeloop.rollout.store import StateConflict

Status = dict[str, Any]

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
        "champion": champion_now(state),  # the column is "who serves the stable traffic"
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
        "rollout": state.evolve(history=state.history[-HISTORY_KEPT:]).to_json(),
    }
    if state.history:
        last = state.history[-1]
        status["lastDecision"] = {"action": last.kind, "reason": last.reason, "time": _time(last.at)}
    return status


class StatusStateStore:
    """Rollout state of the ModelDeployments of one namespace, in their status."""

    def __init__(self, *, api: KubeApi, namespace: str) -> None:
        self.api, self.namespace = api, namespace
        self._seen: dict[str, dict[str, Any]] = {}  # the object as this store last read or wrote it

    def _ref(self, deployment: str) -> Ref:
        return deployment_ref(namespace=self.namespace, name=deployment)

    def load(self, deployment: str) -> RolloutState | None:
        """The rollout state in the status, or None when there is none."""
        obj = self.api.get(self._ref(deployment))
        if obj is None:
            self._seen.pop(deployment, None)
            return None
        self._seen[deployment] = obj
        data = (obj.get("status") or {}).get("rollout")
        return RolloutState.model_validate(data) if data else None

    def require(self, deployment: str) -> RolloutState:
        """The rollout state, or NotFoundError naming the deployment."""
        state = self.load(deployment)
        if state is None:
            raise NotFoundError(f"ModelDeployment {deployment!r} has no rollout")
        return state

    def save(self, state: RolloutState) -> None:
        """Write the state and the fields derived from it into the status."""
        fields = status_from_state(state)

        def change(status: Status) -> Status:
            status = {**status, **fields}
            if "lastDecision" not in fields:
                status.pop("lastDecision", None)
            return status

        self._write(state.deployment, change)

    def archive(self, deployment: str) -> None:
        """Clear the finished rollout so a new one can start (its outcome is tagged on the model version)."""
        self._write(deployment, lambda status: {k: v for k, v in status.items() if k != "rollout"})

    @contextmanager
    def lock(self, deployment: str) -> Iterator[None]:
        """Nothing to take: the operator runs one reconcile per object at a time; peering keeps one replica
        active; any other writer is caught by the resourceVersion check."""
        yield

    def _write(self, deployment: str, change: Callable[[Status], Status]) -> None:
        """Replace the status of the object as last seen; a 409 means someone else wrote since."""
        ref = self._ref(deployment)
        seen = self._seen.get(deployment) or self.api.get(ref)
        if seen is None:
            raise Gone(f"ModelDeployment {deployment!r} in {self.namespace} was deleted")
        status = change(dict(seen.get("status") or {}))
        if status == seen.get("status"):
            return
        body = {**copy.deepcopy(seen), "status": status}
        try:
            self._seen[deployment] = self.api.replace(ref, body, status=True)
        except Conflict:
            self._seen.pop(deployment, None)
            raise StateConflict(f"the rollout status of {deployment!r} changed since it was read") from None
