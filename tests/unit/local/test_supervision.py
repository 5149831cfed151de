"""The supervisor's pure decisions: back-off, when a restart is due, what it leaves to the controller."""

from __future__ import annotations

from kubeloop.local.supervision import Backoff, RestartHistory, left_to_controller, restart_due
from kubeloop.rollout.state import Phase, initial_state
from kubeloop.spec import RolloutSpec

POLICY = Backoff(first_delay=1.0, max_delay=8.0, stable_after=60.0)


def test_the_first_restart_is_immediate_then_each_waits_twice_as_long_up_to_the_cap() -> None:
    assert [POLICY.delay(streak) for streak in range(6)] == [0.0, 1.0, 2.0, 4.0, 8.0, 8.0]


def test_a_crash_streak_waits_out_its_back_off() -> None:
    history = RestartHistory().restarted(now=100.0, reason="died").restarted(now=101.0, reason="died")
    assert history.restarts == 2 and history.streak == 2
    assert not restart_due(history, now=102.9, policy=POLICY)
    assert restart_due(history, now=103.0, policy=POLICY)
    assert restart_due(RestartHistory(), now=0.0, policy=POLICY)


def test_a_process_that_stayed_up_forgets_its_streak_but_not_its_count() -> None:
    history = RestartHistory().restarted(now=100.0, reason="died")
    assert history.settled(now=130.0, started_at=100.0, policy=POLICY) == history
    settled = history.settled(now=161.0, started_at=100.0, policy=POLICY)
    assert (settled.streak, settled.restarts) == (0, 1)


def test_only_a_challenger_not_yet_promoted_is_left_to_the_rollout_controller() -> None:
    state = initial_state(deployment="iris", model="m", champion="1", challenger="2", spec=RolloutSpec(),
                          now=0.0)
    assert left_to_controller("2", state) and not left_to_controller("1", state)
    assert left_to_controller("2", state.evolve(phase=Phase.ROLLED_BACK))
    assert not left_to_controller("2", state.evolve(phase=Phase.PROMOTED))
    assert not left_to_controller("2", None)
