"""When an ended rollout's leftover server is retired: the rolled-back challenger at once, the previous
champion once its warm period is over. The rule is pure; `retire_due` applies it under the state lock.

Whoever runs when the time comes applies it: the controller as the rollout ends (a rolled-back
challenger), the local supervisor later (a promoted rollout's previous champion), so a controller
need not outlive its rollout by the warm period.
"""

from __future__ import annotations

from collections.abc import Callable

from kubeloop.rollout.state import Phase, RolloutState
from kubeloop.rollout.store import StateStore

RETIRED = "retired"


def retire_at(state: RolloutState) -> float | None:
    """When the ended rollout's leftover server may go (None: nothing left to retire, or not ended)."""
    if not state.done or state.extra.get(RETIRED):
        return None
    if state.phase is Phase.PROMOTED:
        return state.previous_warm_until or 0.0
    return state.started_at


def due_retirement(state: RolloutState, *, now: float) -> str | None:
    """The version whose server to stop now, or None (pure)."""
    when = retire_at(state)
    if when is None or when > now:
        return None
    return state.champion if state.phase is Phase.PROMOTED else state.challenger


def retire_due(
    store: StateStore, deployment: str, *, now: float, retire: Callable[[str, str], None]
) -> RolloutState | None:
    """Retire what is due (at most once: the state records it); returns the state as saved."""
    with store.lock(deployment):
        state = store.load(deployment)
        version = None if state is None else due_retirement(state, now=now)
        if state is None or version is None:
            return state
        retire(deployment, version)
        state = state.evolve(extra={**state.extra, RETIRED: True})
        store.save(state)
        return state
