"""The pure parts of the operator's status writing and by-hand commands: which problems are reported
once, and how an annotation's command is read, answered and not run twice."""

from __future__ import annotations

import json

from kubeloop.k8s.commands import COMMAND_ANNOTATION, answer, command_patch, parse_command, pending_command
from kubeloop.k8s.status import BACKEND_AVAILABLE, READY, ROLLING_OUT, Condition
from kubeloop.k8s.status_writer import newly_false
from kubeloop.rollout.reconcile import PromoteNow, RollBack


def test_a_problem_is_reported_when_it_appears_or_changes_not_again() -> None:
    crd = Condition(type=BACKEND_AVAILABLE, status=False, reason="CrdMissing", message="install KServe")
    idle = Condition(type=ROLLING_OUT, status=False, reason="Idle", message="")
    assert newly_false([], [crd, idle]) == [crd]  # RollingOut False means nothing is rolling out
    before = [{"type": BACKEND_AVAILABLE, "status": "False", "reason": "CrdMissing",
               "message": "install KServe"}]
    assert newly_false(before, [crd]) == []
    moved = Condition(type=BACKEND_AVAILABLE, status=False, reason="CrdMissing", message="install Istio")
    assert newly_false(before, [moved]) == [moved]
    assert newly_false(before, [Condition(type=READY, status=True, reason="Serving")]) == []


def _with(patch: dict[str, object], last: str | None = None) -> dict[str, object]:
    status = {"lastCommand": {"id": last}} if last else {}
    return {"metadata": patch["metadata"], "status": status}


def test_a_command_runs_once_by_its_id() -> None:
    obj = _with(command_patch(command_id="c1", action="rollback", reason="latency"))
    command = pending_command(obj)
    assert command is not None and command.request() == RollBack(reason="latency")
    again = command_patch(command_id="c1", action="rollback", reason="x")
    assert pending_command(_with(again, last="c1")) is None
    promote = pending_command(_with(command_patch(command_id="c2", action="promote", reason=""), last="c1"))
    assert promote is not None and promote.request() == PromoteNow(reason="promoted by hand")


def test_a_malformed_command_names_its_problem_and_is_answered_once() -> None:
    bad = parse_command("{not json")
    assert bad.problem == f"{COMMAND_ANNOTATION}: expected a JSON object with id, action and reason"
    assert parse_command("{not json").id == bad.id  # the same text, the same id: answered once
    unknown = parse_command(json.dumps({"id": "c3", "action": "pause"}))
    assert unknown.problem == f"{COMMAND_ANNOTATION}: action must be one of promote, rollback, got 'pause'"
    no_id = parse_command(json.dumps({"action": "promote"}))
    assert no_id.problem == f"{COMMAND_ANNOTATION}: id must be a non-empty string"
    done = answer(unknown, result="Refused", message=unknown.problem, now=0.0)
    assert done == {"id": "c3", "action": "pause", "result": "Refused", "message": unknown.problem,
                    "time": "1970-01-01T00:00:00Z"}
