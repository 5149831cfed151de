"""What `rollout status` shows, computed from the state alone: time to the next step and to full promotion."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubeloop.rollout.actions import FlipAliases
from kubeloop.rollout.engine import next_analysis_at
from kubeloop.rollout.state import Phase, RolloutState


@dataclass(frozen=True, kw_only=True)
class Progress:
    """Where a rollout stands and, if every check keeps passing, when it moves on and finishes."""

    phase: Phase
    weight: int
    step: int
    steps: tuple[int, ...]
    next_analysis_in: float | None
    promotion_in: float | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly mapping."""
        return {
            "phase": self.phase.value,
            "weight": self.weight,
            "step": self.step,
            "steps": list(self.steps),
            "nextAnalysisIn": self.next_analysis_in,
            "promotionIn": self.promotion_in,
        }


def progress(state: RolloutState, *, now: float) -> Progress:
    """The expected times assume each analysis passes: the best case, which is what a step waits for."""
    steps = state.spec.canary.steps
    if state.phase.terminal:
        return Progress(
            phase=state.phase,
            weight=state.weight,
            step=state.step,
            steps=steps,
            next_analysis_in=None,
            promotion_in=None,
        )
    interval = state.spec.canary.interval
    next_in = max(0.0, next_analysis_at(state.spec, state) - now)
    if state.phase is Phase.SHADOW:
        assert state.spec.shadow is not None
        shadow_end = max(next_in, state.step_started_at + state.spec.shadow.duration - now)
        # Shadow ends at an analysis boundary at or after its duration.
        analyses = max(0.0, shadow_end - next_in)
        shadow_left = next_in + -(-analyses // interval) * interval
        promotion = shadow_left + len(steps) * interval
    else:
        promotion = next_in + (len(steps) - 1 - state.step) * interval
    return Progress(
        phase=state.phase,
        weight=state.weight,
        step=state.step,
        steps=steps,
        next_analysis_in=next_in,
        promotion_in=promotion,
    )


def champion_now(state: RolloutState) -> str:
    """The version serving as champion now: the challenger once its promotion has flipped the aliases."""
    flipping = any(isinstance(action, FlipAliases) for action in state.pending)
    return state.challenger if state.phase is Phase.PROMOTED and not flipping else state.champion


def previous_champion(state: RolloutState) -> str | None:
    """The champion a promotion replaced (kept warm for a while), or None before or without one."""
    now = champion_now(state)
    return state.champion if now != state.champion else None
