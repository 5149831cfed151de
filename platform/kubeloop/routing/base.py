"""The TrafficRouter interface: how the controller splits and mirrors traffic between model versions."""

from __future__ import annotations

from dataclasses import dataclass
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


class TrafficRouter(Protocol):
    """One implementation per traffic backend; shadow is an argument of the same call, not a second system."""

    def set_routes(self, deployment: str, routes: Routes) -> None:
        """Make the backend send the deployment's traffic as `routes` says; idempotent."""

    def get_routes(self, deployment: str) -> Routes | None:
        """Read back what the backend currently does, or None when the deployment has no routes."""
