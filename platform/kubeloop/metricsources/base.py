"""The MetricSource interface: a typed query returns a number, or None when there is no data yet."""

from __future__ import annotations

from typing import Protocol

from kubeloop.telemetry.queries import Query


class MetricSource(Protocol):
    """One implementation per metrics backend; analysis never knows which one it talks to."""

    def query(self, query: Query) -> float | None:
        """Evaluate `query` (it carries its own window) now; None means no data yet (inconclusive)."""
