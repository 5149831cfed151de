"""The pure parts of `kubeloop k8s rollout promote|rollback|status`: a command's id, the answer that names
it, the view of a rollout read from the status the operator writes, and the lines `status` prints; then
giving a command through an in-memory stand-in of the API (what the operator answers is up to the test)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kubeloop.cli.k8s_rollout import status_lines
from kubeloop.errors import NotFoundError
from kubeloop.k8s.api import Forbidden, KubeApi, Ref
from kubeloop.k8s.client_commands import Cluster, CommandTimeout, await_answer, give
from kubeloop.k8s.commands import COMMAND_ANNOTATION, answer, answer_to, new_command_id, parse_command
from kubeloop.k8s.rollout_view import rollout_view
from kubeloop.k8s.status_store import deployment_ref, status_from_state
from kubeloop.rollout.actions import FlipAliases
from kubeloop.rollout.state import Phase, RolloutState, initial_state
from kubeloop.spec import RolloutSpec

SPEC = RolloutSpec.model_validate({"shadow": {"percent": 20, "duration": 60}, "canary": {"steps": [25, 50]}})
REF = deployment_ref(namespace="team", name="iris")


def _object(state: RolloutState | None = None, **status: Any) -> dict[str, Any]:
    fields = status_from_state(state) if state is not None else {}
    return {"metadata": {"name": "iris", "namespace": "team"}, "status": {**fields, **status}}


def _rollout() -> RolloutState:
    return initial_state(deployment="iris", model="m", champion="1", challenger="2", spec=SPEC, now=100.0)


def test_a_command_id_says_when_it_was_given_and_is_unique_by_its_random_part() -> None:
    assert new_command_id(now=0.0, entropy="a1b2c3") == "19700101T000000Z-a1b2c3"
    assert new_command_id(now=0.0, entropy="a1b2c3") != new_command_id(now=0.0, entropy="d4e5f6")


def test_only_the_answer_naming_the_command_counts() -> None:
    command = parse_command(json.dumps({"id": "c2", "action": "promote", "reason": ""}))
    done = answer(command, result="Done", message="promoted by hand", now=0.0)
    assert answer_to(_object(lastCommand={**done, "id": "c1"}), "c2") is None  # an earlier command's
    assert answer_to(_object(), "c2") is None
    assert answer_to(_object(lastCommand=done), "c2") == done


def test_a_deployment_without_a_rollout_shows_its_champion_taking_everything() -> None:
    view = rollout_view(_object(phase="stable", champion="1"))
    assert (view.phase, view.champion, view.challenger, view.weights()) == ("stable", "1", None, {"1": 100})
    assert rollout_view({"metadata": {"name": "iris"}}).to_dict()["weights"] == {}


def test_shadow_and_canary_show_the_split_and_the_mirror() -> None:
    shadow = rollout_view(_object(_rollout())).to_dict()
    assert (shadow["phase"], shadow["weights"], shadow["shadow"], shadow["shadowPercent"]) == (
        "shadow", {"1": 100}, "2", 20)
    canary = rollout_view(_object(_rollout().evolve(phase=Phase.CANARY, step=0, weight=25)))
    assert canary.weights() == {"1": 75, "2": 25}
    assert canary.routes is not None and canary.routes.shadow is None


def test_after_promotion_the_challenger_is_the_champion_in_the_status_and_the_view() -> None:
    promoted = _object(_rollout().evolve(phase=Phase.PROMOTED, weight=100))
    assert promoted["status"]["champion"] == "2"  # what `kubectl get md` shows in its Champion column
    view = rollout_view(promoted)
    assert (view.champion, view.previous, view.weights()) == ("2", "1", {"2": 100})


def test_while_the_promotion_flips_the_aliases_the_starting_champion_is_still_the_champion() -> None:
    flip = FlipAliases(model="m", new_champion="2", old_champion="1")
    flipping = _rollout().evolve(phase=Phase.PROMOTED, weight=100, pending=(flip,))
    assert _object(flipping)["status"]["champion"] == "1"


def test_status_names_a_pending_command_and_the_last_answer() -> None:
    last = {"id": "c1", "action": "rollback", "result": "Refused", "message": "no rollout", "time": "T"}
    obj = _object(_rollout(), lastCommand=last)
    obj["metadata"]["annotations"] = {COMMAND_ANNOTATION: json.dumps({"id": "c2", "action": "promote"})}
    lines = status_lines(rollout_view(obj))
    assert lines[:4] == ["iris in team: shadow, step 0", "traffic: v1 100%", "shadow: 20% mirrored to v2",
                         "champion v1, challenger v2"]
    assert "last command: rollback c1 Refused at T: no rollout" in lines
    assert lines[-1] == "pending command: promote c2 (the operator has not answered)"


class FakeApi(KubeApi):
    """The API server holding one ModelDeployment; `operator` answers a command on the Nth read."""

    def __init__(self, obj: dict[str, Any] | None, *, answer_on_read: int | None = None,
                 refuse: str | None = None) -> None:
        super().__init__()
        self.obj, self.reads, self.answer_on_read, self.refuse = obj, 0, answer_on_read, refuse

    def get(self, ref: Ref) -> dict[str, Any] | None:
        self.reads += 1
        if self.obj is not None and self.reads == self.answer_on_read:
            command = parse_command(self.obj["metadata"]["annotations"][COMMAND_ANNOTATION])
            self.obj["status"]["lastCommand"] = answer(command, result="Refused", message="ended", now=0.0)
        return self.obj

    def patch(self, ref: Ref, body: dict[str, Any]) -> dict[str, Any]:
        if self.refuse:
            resource = "modeldeployments.kubeloop.io"
            raise Forbidden(verb=self.refuse, resource=resource, namespace=ref.namespace)
        assert self.obj is not None
        self.obj["metadata"].setdefault("annotations", {}).update(body["metadata"]["annotations"])
        return self.obj


def _give(api: FakeApi, **options: Any) -> Any:
    return give("iris", action="promote", namespace=None, reason="", wait=True, timeout=5.0,
                cluster=Cluster(api=api, namespace="team"), poll=0.0, **options)


def test_giving_a_command_waits_for_the_answer_naming_it() -> None:
    api = FakeApi(_object(_rollout()), answer_on_read=4)
    outcome = _give(api)
    assert (outcome.namespace, outcome.result, outcome.message, outcome.done) == ("team", "Refused", "ended",
                                                                                False)
    assert api.obj is not None and json.loads(api.obj["metadata"]["annotations"][COMMAND_ANNOTATION]) == {
        "id": outcome.id, "action": "promote", "reason": ""}


def test_an_unknown_deployment_a_refused_patch_and_no_answer_each_say_so() -> None:
    with pytest.raises(NotFoundError, match="^no ModelDeployment 'iris' in namespace 'team'$"):
        _give(FakeApi(None))
    with pytest.raises(Forbidden) as refused:
        _give(FakeApi(_object(), refuse="patch"))
    named = "modeldeployments.kubeloop.io"
    assert str(refused.value).startswith(f"forbidden: may not patch {named} in namespace team; "
                                         f"add the verb 'patch' on {named} to a Role")
    ticks = iter(range(100))
    with pytest.raises(CommandTimeout, match=r"no answer to command c9 in status.lastCommand of "
                                             r"ModelDeployment 'iris' in namespace 'team' after 3s"):
        await_answer(FakeApi(_object()), REF, command_id="c9", timeout=3.0, poll=0.0,
                     clock=lambda: float(next(ticks)))
