"""Decisions to actions, and the state file: round trips, atomic writes, archive and locking."""

from __future__ import annotations

import json
from pathlib import Path

from kubeloop.analysis.results import CheckResult, Verdict
from kubeloop.registry.names import TAG_ROLLOUT_OUTCOME, TAG_ROLLOUT_REASON
from kubeloop.rollout.actions import FlipAliases, SetRoutes, TagVersion
from kubeloop.rollout.engine import decide, manual_promote, manual_rollback
from kubeloop.rollout.file_store import FileStateStore
from kubeloop.rollout.plan import actions_for, apply
from kubeloop.rollout.state import Phase, RolloutState, initial_state
from kubeloop.routing.base import Routes
from kubeloop.spec import RolloutSpec

SPEC = RolloutSpec.model_validate({"shadow": {"duration": 0, "minSamples": 1}, "canary": {"interval": 1}})


def start() -> RolloutState:
    return initial_state(
        deployment="iris", model="iris-clf", champion="1", challenger="2", spec=SPEC, now=0.0
    )


def passing() -> list[CheckResult]:
    return [
        CheckResult(
            name=c.name, kind=c.kind, verdict=Verdict.PASS, value=0.0, threshold=c.threshold, samples=99
        )
        for c in SPEC.checks
    ]


def test_advancing_out_of_shadow_routes_the_first_weight() -> None:
    state = start()
    decision = decide(SPEC, state, passing(), now=1)
    (action,) = actions_for(state, decision)
    assert action == SetRoutes(deployment="iris", routes=Routes(stable="1", canary="2", canary_weight=10))


def test_promotion_is_full_weight_then_aliases_then_stable_then_tag() -> None:
    state = start()
    actions = actions_for(state, manual_promote(state))
    assert [type(a) for a in actions] == [SetRoutes, FlipAliases, SetRoutes, TagVersion]
    assert actions[0].routes.canary_weight == 100
    assert actions[1] == FlipAliases(model="iris-clf", new_champion="2", old_champion="1")
    assert actions[2].routes == Routes(stable="2")
    assert actions[3].tags[TAG_ROLLOUT_OUTCOME] == "promoted"


def test_rollback_routes_everything_to_the_champion_and_records_why() -> None:
    state = start()
    actions = actions_for(state, manual_rollback(state, reason="latency"))
    assert actions[0].routes == Routes(stable="1")
    assert actions[1].tags == {TAG_ROLLOUT_OUTCOME: "rolled-back", TAG_ROLLOUT_REASON: "latency"}


def test_apply_records_history_and_pending_actions() -> None:
    state = start()
    after = apply(state, decide(SPEC, state, passing(), now=1), now=1)
    assert (after.phase, after.weight, after.step_started_at, after.revision) == (Phase.CANARY, 10, 1, 1)
    assert len(after.pending) == 1 and after.history[-1].kind == "advance"
    assert after.pending[0] == actions_for(state, decide(SPEC, state, passing(), now=1))[0]


def test_state_round_trips_through_the_store(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path)
    state = apply(start(), decide(SPEC, start(), passing(), now=1), now=1)
    store.save(state)
    assert store.load("iris") == state
    assert json.loads(store.path("iris").read_text())["strategy"]["failureLimit"] == 2
    assert not list(store.root.glob("*.tmp")), "the temporary file must be replaced, not left behind"


def test_archive_moves_the_finished_rollout_aside(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path)
    store.save(start())
    store.archive("iris")
    assert [s.challenger for s in store.archived("iris")] == ["2"]
    assert store.load("iris") is not None, "the current file stays until the next rollout replaces it"


def test_lock_is_reentrant_across_handles_in_sequence(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path)
    with store.lock("iris"):
        store.save(start())
    with store.lock("iris"):
        assert store.require("iris").deployment == "iris"


def test_a_state_file_written_before_the_typed_retirement_still_loads(tmp_path: Path) -> None:
    advanced = apply(start(), decide(SPEC, start(), passing(), now=1), now=1)
    older = advanced.to_json()
    del older["retirement"]
    for entry in older["pending"]:
        entry.pop("change", None)
    promoted = {
        **older,
        "phase": "promoted",
        "previousWarmUntil": 700.0,
        "extra": {"retired": True},
        "pending": [],
    }
    rolled_back = {**older, "phase": "rolled-back", "previousWarmUntil": None, "extra": {}}
    rolled_back["history"] = [
        {"at": 50.0, "kind": "rollback", "reason": "r", "phase": "rolled-back", "step": 0, "weight": 0}
    ]
    running = {**older, "previousWarmUntil": None, "extra": {}}
    store = FileStateStore(tmp_path)
    for name, data in (("a", promoted), ("b", rolled_back), ("c", running)):
        store.root.mkdir(parents=True, exist_ok=True)
        store.path(name).write_text(json.dumps({**data, "deployment": name}))
    a, b, c = store.require("a"), store.require("b"), store.require("c")
    assert (a.retirement.version, a.retirement.due_at, a.retirement.done_at) == ("1", 700.0, 700.0)
    assert a.previous_warm_until == 700.0 and a.settled
    assert (b.retirement.version, b.retirement.due_at, b.retirement.done_at) == ("2", 50.0, None)
    assert c.retirement is None and c.pending == advanced.pending and c.pending[0].change == "step"
