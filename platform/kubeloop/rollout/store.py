"""The StateStore port: where a deployment's rollout state is kept (a state file, or the resource's status).

Writes are checked against the version the writer last read: a save whose state was computed from
an older read raises StateConflict instead of overwriting a concurrent update, and the controller
computes its decision again from a fresh read.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from kubeloop.errors import KubeloopError
from kubeloop.rollout.state import RolloutState


class StateConflict(KubeloopError):
    """The stored state changed since this writer read it; read again and decide again."""


class StateStore(Protocol):
    """Rollout state per deployment: the state file (FileStateStore) and the status (StatusStateStore)."""

    def load(self, deployment: str) -> RolloutState | None:
        """The deployment's rollout state, or None when it has none; remembers the version read."""

    def require(self, deployment: str) -> RolloutState:
        """The rollout state, or a NotFoundError naming the deployment."""

    def save(self, state: RolloutState) -> None:
        """Write the state; StateConflict when the stored state changed since this store last read it."""

    def archive(self, deployment: str) -> None:
        """Set the finished rollout aside so a new one can start (checked like `save`)."""

    def lock(self, deployment: str) -> AbstractContextManager[None]:
        """Hold the deployment while reading, deciding and writing (a no-op where the platform serialises)."""
