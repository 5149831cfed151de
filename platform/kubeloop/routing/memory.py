"""In-memory TrafficRouter and ModelServers for tests of the controller; they pass the same contract tests."""

from __future__ import annotations

from collections.abc import Iterable

from kubeloop.routing.base import RouteChange, Routes


class MemoryRouter:
    """One deployment's routes in memory; records every change and what it meant, to assert the sequence."""

    def __init__(self, routes: Routes | None = None) -> None:
        self.routes = routes
        self.history: list[Routes] = []
        self.changes: list[RouteChange] = []

    def set_routes(self, routes: Routes, *, change: RouteChange = RouteChange.STEP) -> None:
        """Keep the routes and append them (and their meaning) to the history."""
        self.routes = routes
        self.history.append(routes)
        self.changes.append(change)

    def get_routes(self) -> Routes | None:
        """The last routes set."""
        return self.routes


class MemoryServers:
    """Model servers as a set of running versions; a started one answers at once unless `instant` is off."""

    def __init__(self, router: MemoryRouter, *, running: Iterable[str] = (), instant: bool = True) -> None:
        self.router, self.instant = router, instant
        self.running = set(running)
        self.started: list[str] = []
        self.retired: list[str] = []

    def ready(self, version: str) -> bool:
        """True while the version runs."""
        return version in self.running

    def start(self, version: str) -> None:
        """Record the start; the version runs now when `instant`, else once `come_up` is called."""
        self.started.append(version)
        if self.instant:
            self.running.add(version)

    def come_up(self, version: str) -> None:
        """A server started earlier answers now (the cluster's pods became Ready)."""
        self.running.add(version)

    def retire(self, version: str) -> None:
        """Stop the version unless the routes name it; record each retirement once."""
        routes = self.router.get_routes()
        if (routes is not None and version in routes.versions()) or version not in self.running:
            return
        self.running.discard(version)
        self.retired.append(version)
