"""The ModelDeployment `status`: its schema in the CRD and the pure functions that build status patches.

Conditions follow the Kubernetes convention (`type`, `status`, `reason`, `message`,
`lastTransitionTime`, `observedGeneration`), so `kubectl wait --for=condition=Ready` works.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

READY = "Ready"
SPEC_VALID = "SpecValid"
BACKEND_AVAILABLE = "BackendAvailable"
ROLLING_OUT = "RollingOut"

_REASON = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
_CONDITION = {
    "type": "object",
    "required": ["type", "status", "reason", "message", "lastTransitionTime"],
    "properties": {
        "type": {"type": "string", "maxLength": 316},
        "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
        "observedGeneration": {"type": "integer", "minimum": 0},
        "lastTransitionTime": {"type": "string", "format": "date-time"},
        "reason": {"type": "string", "maxLength": 1024, "pattern": _REASON},
        "message": {"type": "string", "maxLength": 32768},
    },
}


def status_schema() -> dict[str, Any]:
    """The structural schema of `status`, written only through the status subresource."""
    return {
        "type": "object",
        "properties": {
            "observedGeneration": {"type": "integer"},
            "phase": {"type": "string", "description": "Rollout phase: idle, shadow, canary, promoted, ..."},
            "champion": {"type": "string", "description": "Model version serving the stable traffic."},
            "challenger": {"type": "string", "description": "Model version under rollout, if any."},
            "canaryWeight": {"type": "integer", "minimum": 0, "maximum": 100},
            "shadowPercent": {"type": "integer", "minimum": 0, "maximum": 100},
            "step": {"type": "integer", "minimum": 0, "description": "Index of the current canary step."},
            "lastDecision": {
                "type": "object",
                "properties": {
                    "action": {"type": "string"},
                    "reason": {"type": "string"},
                    "time": {"type": "string", "format": "date-time"},
                },
            },
            "lastCommand": {
                "type": "object",
                "description": "The last by-hand command (kubeloop.io/rollout-command) and its answer.",
                "properties": {
                    "id": {"type": "string"},
                    "action": {"type": "string"},
                    "result": {"type": "string", "enum": ["Done", "Refused"]},
                    "message": {"type": "string"},
                    "time": {"type": "string", "format": "date-time"},
                },
            },
            "checks": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "result"],
                    "properties": {
                        "name": {"type": "string"},
                        "result": {"type": "string", "enum": ["Pass", "Fail", "Inconclusive"]},
                        "value": {"type": "number", "nullable": True},
                        "threshold": {"type": "number"},
                        "message": {"type": "string"},
                    },
                },
            },
            "rollout": {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
                "description": "The rollout engine's state, so a restarted operator resumes where it was.",
            },
            "conditions": {
                "type": "array",
                "items": _CONDITION,
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
            },
        },
    }


@dataclass(frozen=True, kw_only=True)
class Condition:
    """One standard condition; `reason` is CamelCase, `message` says what to do."""

    type: str
    status: bool | None
    reason: str
    message: str = ""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_conditions(
    current: Sequence[Mapping[str, Any]], new: Sequence[Condition], *, generation: int, now: str | None = None
) -> list[dict[str, Any]]:
    """Conditions with `new` applied; lastTransitionTime moves only when a condition's status changes."""
    stamp = now or _now()
    merged = {c["type"]: dict(c) for c in current}
    for condition in new:
        status = {True: "True", False: "False", None: "Unknown"}[condition.status]
        previous = merged.get(condition.type, {})
        merged[condition.type] = {
            "type": condition.type,
            "status": status,
            "reason": condition.reason,
            "message": condition.message,
            "observedGeneration": generation,
            "lastTransitionTime": previous.get("lastTransitionTime", stamp)
            if previous.get("status") == status
            else stamp,
        }
    return sorted(merged.values(), key=lambda c: c["type"])
