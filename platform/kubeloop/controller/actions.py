"""Carry out planned actions against the traffic router, the model servers and the registry, idempotently.

Routes are read back and set only when they differ; a promotion leaves the aliases alone only when
all three of its writes (champion, previous, challenger cleared) are in effect; tags are overwritten
with the same values; retiring a retired server does nothing. So replaying the pending actions of a
controller that died half-way changes nothing that was done.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from kubeloop.registry.names import CHALLENGER, CHAMPION, PREVIOUS
from kubeloop.rollout.actions import Action, FlipAliases, RetireServer, SetAlias, SetRoutes, TagVersion
from kubeloop.routing.base import ModelServers, TrafficRouter


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

    def set_tags(self, *, name: str, version: str | int, tags: Mapping[str, str]) -> None:
        """Set tags on a version."""


def execute(
    action: Action, *, router: TrafficRouter, servers: ModelServers, registry: RolloutRegistry
) -> bool:
    """Carry out one action; returns False when it was already in effect (nothing was changed)."""
    if isinstance(action, SetRoutes):
        if router.get_routes() == action.routes:
            return False
        router.set_routes(action.routes, change=action.change)
        return True
    if isinstance(action, FlipAliases):
        return _flip_aliases(action, registry)
    if isinstance(action, SetAlias):
        if _alias(registry, action.model, action.alias) == action.version:
            return False
        registry.set_alias(name=action.model, alias=action.alias, version=action.version)
        return True
    if isinstance(action, TagVersion):
        registry.set_tags(name=action.model, version=action.version, tags=action.tags)
        return True
    if isinstance(action, RetireServer):
        servers.retire(action.version)
        return True
    raise TypeError(f"unknown action {action!r}")


def _flip_aliases(action: FlipAliases, registry: RolloutRegistry) -> bool:
    """Promote unless every alias is already where promotion puts it (a crash can stop it between writes)."""
    model, new, old = action.model, action.new_champion, action.old_champion
    if _flipped(action, registry):
        return False
    registry.promote(name=model, version=new)
    if old != new and _alias(registry, model, PREVIOUS) != old:
        # promote() names the old champion `previous` only while it is still the champion.
        registry.set_alias(name=model, alias=PREVIOUS, version=old)
    return True


def _flipped(action: FlipAliases, registry: RolloutRegistry) -> bool:
    model, new, old = action.model, action.new_champion, action.old_champion
    return (
        _alias(registry, model, CHAMPION) == new
        and (old == new or _alias(registry, model, PREVIOUS) == old)
        and _alias(registry, model, CHALLENGER) != new
    )


def _alias(registry: RolloutRegistry, model: str, alias: str) -> str | None:
    found = registry.version_for_alias(model, alias)
    return None if found is None else str(found.version)
