"""By-hand rollout commands in a cluster: `kubeloop k8s rollout promote|rollback` writes one annotation on the
ModelDeployment, the operator carries it out on its next reconcile and answers in `status.lastCommand`.

The annotation holds JSON `{"id", "action", "reason"}`; a command runs once, when its id differs from the
one in `status.lastCommand`, so a restarted operator never repeats it and a new command replaces an old
one that was never run. Going through the operator keeps one writer of routes, aliases and state, and
the person giving the command needs only `get` and `patch` on modeldeployments. Everything here is pure.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubeloop.rollout.reconcile import PromoteNow, RollBack

COMMAND_ANNOTATION = "kubeloop.io/rollout-command"
ACTIONS = ("promote", "rollback")
DONE, REFUSED = "Done", "Refused"


@dataclass(frozen=True, kw_only=True)
class Command:
    """One by-hand command read from the annotation; `problem` says why it cannot be read, if it cannot."""

    id: str
    action: str
    reason: str
    problem: str | None = None

    def request(self) -> PromoteNow | RollBack:
        """The controller's request for this command."""
        if self.action == "promote":
            return PromoteNow(reason=self.reason)
        return RollBack(reason=self.reason)


def command_patch(*, command_id: str, action: str, reason: str) -> dict[str, Any]:
    """The merge patch that gives a ModelDeployment a new command."""
    body = json.dumps({"id": command_id, "action": action, "reason": reason}, sort_keys=True)
    return {"metadata": {"annotations": {COMMAND_ANNOTATION: body}}}


def new_command_id(*, now: float, entropy: str) -> str:
    """A command's id: when it was given (readable in `kubectl get -o yaml`) and random hex, unique."""
    return f"{datetime.fromtimestamp(now, UTC).strftime('%Y%m%dT%H%M%SZ')}-{entropy}"


def answer_to(obj: dict[str, Any], command_id: str) -> dict[str, Any] | None:
    """`status.lastCommand` once it answers the command `command_id`, else None (not carried out yet)."""
    last = (obj.get("status") or {}).get("lastCommand") or {}
    return dict(last) if last.get("id") == command_id else None


def pending_command(obj: dict[str, Any]) -> Command | None:
    """The command in the object's annotation that has not been answered yet, or None."""
    raw = ((obj.get("metadata") or {}).get("annotations") or {}).get(COMMAND_ANNOTATION)
    if raw is None:
        return None
    command = parse_command(raw)
    answered = ((obj.get("status") or {}).get("lastCommand") or {}).get("id")
    return None if command.id == answered else command


def parse_command(raw: str) -> Command:
    """The command in an annotation value; a malformed one comes back with its `problem` named."""
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return _malformed(raw, "expected a JSON object with id, action and reason")
    id_, action, reason = data.get("id"), data.get("action"), data.get("reason")
    if not isinstance(id_, str) or not id_:
        return _malformed(raw, "id must be a non-empty string")
    if action not in ACTIONS:
        allowed = ", ".join(ACTIONS)
        problem = f"{COMMAND_ANNOTATION}: action must be one of {allowed}, got {action!r}"
        return Command(id=id_, action=str(action), reason="", problem=problem)
    if not isinstance(reason, str) or not reason:
        reason = "promoted by hand" if action == "promote" else "rolled back by hand"
    return Command(id=id_, action=action, reason=reason)


def answer(command: Command, *, result: str, message: str, now: float) -> dict[str, Any]:
    """`status.lastCommand`: which command ran, whether it was done or refused, and why."""
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"id": command.id, "action": command.action, "result": result, "message": message, "time": stamp}


def _malformed(raw: str, why: str) -> Command:
    """A command without a readable id, answered under a digest of its text so it is answered once."""
    digest = hashlib.sha256(raw.encode()).hexdigest()[:16]
    return Command(id=f"unreadable-{digest}", action="", reason="", problem=f"{COMMAND_ANNOTATION}: {why}")
