"""The actions a rollout's decisions ask for: plain, idempotent records kept in the state until done.

Each is persisted (in `RolloutState.pending`) before it runs and cleared after, so a controller killed
half-way replays exactly the same actions on restart. The JSON is that of the older hand-written
records (`kind` tells them apart); a route change without `change` reads as a plain step.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from kubeloop.routing.base import RouteChange, Routes


class _Action(BaseModel):
    model_config = ConfigDict(frozen=True)


class SetRoutes(_Action):
    """Send the deployment's traffic as `routes` says; `change` tells the router what the move means."""

    kind: Literal["routes"] = "routes"
    deployment: str
    routes: Routes
    change: RouteChange = RouteChange.STEP


class FlipAliases(_Action):
    """Make `new_champion` the champion, alias the old one `previous` and drop the challenger alias."""

    kind: Literal["aliases"] = "aliases"
    model: str
    new_champion: str
    old_champion: str


class TagVersion(_Action):
    """Record tags (outcome, reason) on a model version."""

    kind: Literal["tag"] = "tag"
    model: str
    version: str
    tags: dict[str, str] = Field(default_factory=dict)


class SetAlias(_Action):
    """Point an alias at a version (the rollout marks its version `challenger` when it starts)."""

    kind: Literal["alias"] = "alias"
    model: str
    alias: str
    version: str


class RetireServer(_Action):
    """Stop the server of a version the finished rollout no longer routes to."""

    kind: Literal["retire"] = "retire"
    deployment: str
    version: str


Action = Annotated[
    SetRoutes | FlipAliases | TagVersion | SetAlias | RetireServer, Field(discriminator="kind")
]
