"""When an ended rollout's leftover server is retired, and the champion `rollout status` reports."""

from __future__ import annotations

from pathlib import Path

from kubeloop.rollout.progress import champion_now, previous_champion
from kubeloop.rollout.retirement import due_retirement, retire_at, retire_due
from kubeloop.rollout.state import Phase, RolloutState, initial_state
from kubeloop.rollout.store import StateStore
from kubeloop.spec import RolloutSpec


def started() -> RolloutState:
    return initial_state(deployment="iris", model="m", champion="1", challenger="2", spec=RolloutSpec(),
                         now=100.0)


def test_a_running_rollout_retires_nothing_and_keeps_its_champion() -> None:
    state = started()
    assert retire_at(state) is None and due_retirement(state, now=1e9) is None
    assert (champion_now(state), previous_champion(state)) == ("1", None)


def test_a_promotion_keeps_the_previous_champion_warm_then_retires_it() -> None:
    promoted = started().evolve(phase=Phase.PROMOTED, previous_warm_until=700.0)
    assert retire_at(promoted) == 700.0
    assert due_retirement(promoted, now=699.0) is None
    assert due_retirement(promoted, now=700.0) == "1"
    assert due_retirement(promoted.evolve(extra={"retired": True}), now=800.0) is None
    assert (champion_now(promoted), previous_champion(promoted)) == ("2", "1")


def test_a_promotion_still_flipping_its_aliases_reports_the_old_champion() -> None:
    flipping = started().evolve(phase=Phase.PROMOTED, pending=({"kind": "aliases"},))
    assert champion_now(flipping) == "1" and retire_at(flipping) is None


def test_a_rolled_back_challenger_is_retired_at_once_and_only_once(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.save(started().evolve(phase=Phase.ROLLED_BACK))
    retired: list[tuple[str, str]] = []
    saved = retire_due(store, "iris", now=101.0, retire=lambda d, v: retired.append((d, v)))
    assert retired == [("iris", "2")] and saved is not None and saved.extra["retired"] is True
    retire_due(store, "iris", now=102.0, retire=lambda d, v: retired.append((d, v)))
    assert retired == [("iris", "2")]
