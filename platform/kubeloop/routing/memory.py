"""An in-memory TrafficRouter for tests of the controller; passes the same contract tests as real ones."""

from __future__ import annotations

from kubeloop.routing.base import Routes


class MemoryRouter:
    """Keeps routes in a dict and records every change, so tests can assert the sequence of actions."""

    def __init__(self) -> None:
        self.routes: dict[str, Routes] = {}
        self.history: list[tuple[str, Routes]] = []

    def set_routes(self, deployment: str, routes: Routes) -> None:
        """Store the routes and append them to the history."""
        self.routes[deployment] = routes
        self.history.append((deployment, routes))

    def get_routes(self, deployment: str) -> Routes | None:
        """Return the last routes set for the deployment."""
        return self.routes.get(deployment)
