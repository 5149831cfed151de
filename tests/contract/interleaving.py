"""A router wrapper that lets a second writer run at a chosen moment of the operator's reconcile (the
contract tests against the recording server and the cluster tests against the real one share it)."""

from __future__ import annotations

from collections.abc import Callable

from kubeloop.routing.base import RouteChange, Routes, TrafficRouter


class Interleaved:
    """The operator's router; right after its first route change, the other writer runs to completion."""

    def __init__(self, inner: TrafficRouter, other: Callable[[], None]) -> None:
        self.inner, self.other, self.fired = inner, other, False

    def set_routes(self, routes: Routes, *, change: RouteChange = RouteChange.STEP) -> None:
        """Change the routes, then (the first time) let the other writer run."""
        self.inner.set_routes(routes, change=change)
        if not self.fired:
            self.fired = True
            self.other()

    def get_routes(self) -> Routes | None:
        """The routes in effect."""
        return self.inner.get_routes()
