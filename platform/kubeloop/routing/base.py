"""The ports a rollout drives on one deployment: its traffic (TrafficRouter) and its servers (ModelServers).

Each implementation is bound to one deployment when it is built (Flagger's routers are), so no call
names the deployment again. Shadow is an argument of the same route call, not a second system; what
a route change means (a step, a promotion, a rollback) is said, never guessed from the routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True, kw_only=True)
class Routes:
    """Where a deployment's traffic goes; backends are named by model version ("3")."""

    stable: str
    canary: str | None = None
    canary_weight: int = 0
    shadow: str | None = None
    shadow_percent: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.canary_weight <= 100 or not 0 <= self.shadow_percent <= 100:
            raise ValueError("canary_weight and shadow_percent must be within 0..100")
        if self.canary_weight and self.canary is None:
            raise ValueError("a canary weight needs a canary backend")
        if self.shadow_percent and self.shadow is None:
            raise ValueError("a shadow percent needs a shadow backend")

    def versions(self) -> dict[str, str]:
        """Each version in use and its role; a version in two roles keeps the first (champion first)."""
        roles: dict[str, str] = {}
        for version, role in (
            (self.stable, "champion"),
            (self.canary, "challenger"),
            (self.shadow, "shadow"),
        ):
            if version is not None:
                roles.setdefault(version, role)
        return roles


class RouteChange(StrEnum):
    """What a route change means, for backends whose mechanics differ by intent (KServe revisions)."""

    STEP = "step"  # a rollout step (shadow, a canary weight) or the stable routes themselves
    PROMOTE = "promote"  # the challenger, at full weight, becomes the stable version
    ROLLBACK = "rollback"  # every request back to the champion at once


class TrafficRouter(Protocol):
    """The traffic of one deployment: one implementation per backend (gateway, KServe, Istio, Gateway API)."""

    def set_routes(self, routes: Routes, *, change: RouteChange = RouteChange.STEP) -> None:
        """Make the backend send the deployment's traffic as `routes` says; idempotent."""

    def get_routes(self) -> Routes | None:
        """Read back what the backend currently does, or None when the deployment has no routes."""


class ModelServers(Protocol):
    """The model servers of one deployment, one per version: started before traffic goes to them."""

    def ready(self, version: str) -> bool:
        """True when a server for `version` answers (reads only)."""

    def start(self, version: str) -> None:
        """Start a server for `version` unless one runs (it may become ready later)."""

    def retire(self, version: str) -> None:
        """Stop the server of `version` unless the routes still name it; idempotent."""
