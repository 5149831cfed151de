"""The MetricSource interface: a query over a window returns a number, or None when there is no data yet."""

from __future__ import annotations

from typing import Protocol


class MetricSource(Protocol):
    """One implementation per metrics backend; analysis never knows which one it talks to."""

    def query(self, query: str, *, window_seconds: float) -> float | None:
        """Evaluate `query` over the last `window_seconds`; None means no data yet (inconclusive)."""
