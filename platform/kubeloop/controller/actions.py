"""Carry out planned actions against the traffic router and the registry, each one idempotently.

Routes are read back and set only when they differ; promotion through the registry leaves aliases
alone when they already point where they should; tags are overwritten with the same values. So
replaying the pending actions of a controller that died half-way changes nothing that was done.
"""

from __future__ import annotations

from typing import Any, Protocol

from kubeloop.rollout.plan import Action, FlipAliases, SetAlias, SetRoutes, TagVersion
from kubeloop.routing.base import TrafficRouter


class RolloutRegistry(Protocol):
    """The registry operations a rollout needs (kubeloop.registry.MlflowRegistry provides them)."""

    def get_version(self, name: str, version: str | int) -> Any:
        """The model version, or NotFoundError."""

    def version_for_alias(self, name: str, alias: str) -> Any | None:
        """The version an alias points at, or None."""

    def set_alias(self, *, name: str, alias: str, version: str | int) -> None:
        """Point an alias at a version."""

    def promote(self, *, name: str, version: str | int) -> Any:
        """Make a version champion, the old champion `previous`, and clear `challenger` if it was it."""

    def set_tags(self, *, name: str, version: str | int, tags: Any) -> None:
        """Set tags on a version."""


def execute(action: Action, *, router: TrafficRouter, registry: RolloutRegistry) -> bool:
    """Carry out one action; returns False when it was already in effect (nothing was changed)."""
    if isinstance(action, SetRoutes):
        if router.get_routes(action.deployment) == action.routes:
            return False
        router.set_routes(action.deployment, action.routes)
        return True
    if isinstance(action, FlipAliases):
        current = registry.version_for_alias(action.model, "champion")
        if current is not None and str(current.version) == action.new_champion:
            return False
        registry.promote(name=action.model, version=action.new_champion)
        return True
    if isinstance(action, SetAlias):
        current = registry.version_for_alias(action.model, action.alias)
        if current is not None and str(current.version) == action.version:
            return False
        registry.set_alias(name=action.model, alias=action.alias, version=action.version)
        return True
    if isinstance(action, TagVersion):
        registry.set_tags(name=action.model, version=action.version, tags=action.tags)
        return True
    raise TypeError(f"unknown action {action!r}")
