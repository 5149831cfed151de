"""Conditions and summary fields written into a ModelDeployment's status, and problems reported once.

Writes go through `KubeApi.update` (read, change, write with the resourceVersion read, again on 409), so
they never overwrite the rollout state another writer saved. A condition that turns False, or changes
its reason or message while False, is handed to `report` once (the operator posts it as a Warning
event), not on every reconcile; RollingOut False is no problem (nothing is rolling out) and never reported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kubeloop.controller.loop import Reconciled
from kubeloop.k8s.api import KubeApi, Ref
from kubeloop.k8s.status import BACKEND_AVAILABLE, READY, ROLLING_OUT, SPEC_VALID, Condition, merge_conditions

# (the object as read, a condition that just turned False) -> post it somewhere people look.
Report = Callable[[dict[str, Any], Condition], None]
# The conditions whose False is a problem someone must act on.
PROBLEMS = (SPEC_VALID, BACKEND_AVAILABLE, READY)


def newly_false(current: Sequence[Mapping[str, Any]], new: Sequence[Condition]) -> list[Condition]:
    """Conditions of `new` that are False and were not False for the same reason and message before."""
    before = {c.get("type"): c for c in current}
    changed = []
    for condition in new:
        previous = before.get(condition.type) or {}
        same = (previous.get("status"), previous.get("reason"), previous.get("message")) == (
            "False",
            condition.reason,
            condition.message,
        )
        if condition.status is False and condition.type in PROBLEMS and not same:
            changed.append(condition)
    return changed


class StatusWriter:
    """Writes conditions and extra status fields of ModelDeployments; reports new problems once."""

    def __init__(self, *, api: KubeApi, report: Report | None = None) -> None:
        self.api, self.report = api, report

    def write(
        self,
        ref: Ref,
        conditions: list[Condition],
        extra: dict[str, Any] | None = None,
        *,
        report: bool = True,
    ) -> None:
        """Merge the conditions and fields into the status (a no-op when nothing changes)."""
        found: list[tuple[dict[str, Any], list[Condition]]] = []

        def mutate(obj: dict[str, Any]) -> dict[str, Any] | None:
            status = dict(obj.get("status") or {})
            generation = obj["metadata"].get("generation", 0)
            current = status.get("conditions", [])
            merged = merge_conditions(current, conditions, generation=generation)
            new = {**status, **(extra or {}), "conditions": merged, "observedGeneration": generation}
            found[:] = [(obj, newly_false(current, conditions))]
            if new == obj.get("status"):
                return None
            obj["status"] = new
            return obj

        self.api.update(ref, mutate, status=True)
        if report and self.report is not None and found:
            obj, problems = found[0]
            for condition in problems:
                self.report(obj, condition)


def serving_conditions(result: Reconciled, *, champion: str, refusal: str | None) -> list[Condition]:
    """The conditions of a deployment that serves its champion, rolling out or not."""
    state = result.state
    rolling = state is not None and not state.done
    backend = (
        Condition(type=BACKEND_AVAILABLE, status=True, reason="Installed")
        if refusal is None
        else Condition(
            type=BACKEND_AVAILABLE, status=False, reason="TrafficSplitUnsupported", message=refusal
        )
    )
    return [
        valid(),
        backend,
        Condition(type=READY, status=True, reason="Serving", message=f"champion {champion}"),
        Condition(
            type=ROLLING_OUT,
            status=rolling,
            reason="RollingOut" if rolling else "Idle",
            message=state.history[-1].reason if state and state.history else "",
        ),
    ]


def valid() -> Condition:
    """SpecValid True."""
    return Condition(type=SPEC_VALID, status=True, reason="Valid")
