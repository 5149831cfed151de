"""Time to the next analysis and to full promotion, as `rollout status` shows them."""

from __future__ import annotations

import pytest

from kubeloop.rollout.actions import FlipAliases
from kubeloop.rollout.progress import champion_now, previous_champion, progress
from kubeloop.rollout.state import Phase, RolloutState, initial_state
from kubeloop.spec import RolloutSpec

SPEC = RolloutSpec.model_validate(
    {"shadow": {"duration": 25}, "canary": {"steps": [10, 25, 50], "interval": 10}}
)


def test_in_shadow_promotion_waits_for_the_shadow_then_every_step() -> None:
    state = initial_state(deployment="d", model="m", champion="1", challenger="2", spec=SPEC, now=0.0)
    info = progress(state, now=4.0)
    # Analyses at 10, 20, 30: the shadow (25 s) ends at 30, then three steps of 10 s.
    assert info.next_analysis_in == pytest.approx(6.0)
    assert info.promotion_in == pytest.approx(26.0 + 30.0)


def test_in_canary_each_remaining_step_takes_an_interval() -> None:
    state = initial_state(deployment="d", model="m", champion="1", challenger="2", spec=SPEC, now=0.0)
    state = state.evolve(phase=Phase.CANARY, step=1, weight=25, step_started_at=100.0, last_analysis_at=100.0)
    info = progress(state, now=103.0)
    assert (info.next_analysis_in, info.promotion_in) == (7.0, 17.0)
    assert info.to_dict()["steps"] == [10, 25, 50]


def test_finished_rollouts_have_no_times() -> None:
    state = initial_state(deployment="d", model="m", champion="1", challenger="2", spec=SPEC, now=0.0)
    info = progress(state.evolve(phase=Phase.PROMOTED, weight=100), now=5.0)
    assert info.next_analysis_in is None and info.promotion_in is None


def _started() -> RolloutState:
    return initial_state(deployment="iris", model="m", champion="1", challenger="2", spec=RolloutSpec(),
                         now=100.0)


def test_a_running_rollout_reports_its_champion_and_no_previous_one() -> None:
    assert (champion_now(_started()), previous_champion(_started())) == ("1", None)


def test_a_promotion_reports_the_challenger_as_champion_once_its_aliases_flipped() -> None:
    promoted = _started().evolve(phase=Phase.PROMOTED)
    assert (champion_now(promoted), previous_champion(promoted)) == ("2", "1")
    flipping = promoted.evolve(pending=(FlipAliases(model="m", new_champion="2", old_champion="1"),))
    assert (champion_now(flipping), previous_champion(flipping)) == ("1", None)
