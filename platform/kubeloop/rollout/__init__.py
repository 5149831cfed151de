"""The rollout engine, its state model and store: shadow, canary steps, promotion and rollback."""

from kubeloop.rollout.engine import Decision, DecisionKind, decide, manual_promote, manual_rollback
from kubeloop.rollout.state import Phase, RolloutState, initial_state
from kubeloop.rollout.store import StateStore

__all__ = [
    "Decision",
    "DecisionKind",
    "Phase",
    "RolloutState",
    "StateStore",
    "decide",
    "initial_state",
    "manual_promote",
    "manual_rollback",
]
