"""The gateway's route table and its pure decisions: which backend answers, whether to mirror.

A route belongs to a deployment: a stable backend, an optional canary with a weight, an optional
shadow with a mirror percent, and optionally a header whose value makes the split sticky.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

STABLE, CANARY, SHADOW = "champion", "challenger", "shadow"
# What a backend speaks: KServe's V1/V2 paths (kubeloop's runtimes, KServe, MLServer, Triton), or the
# MLflow scoring server's single `/invocations` route, which takes the V1 `instances` body as is.
KSERVE, MLFLOW = "kserve", "mlflow"
PROTOCOLS = (KSERVE, MLFLOW)


class RouteError(ValueError):
    """A route document the admin API refuses; the message names the field."""


@dataclass(frozen=True, kw_only=True)
class Backend:
    """One model server: the version it serves, where it listens (http://host:port), what it speaks."""

    version: str
    url: str
    protocol: str = KSERVE
    # (host, port) to connect to, parsed once rather than on every request.
    address: tuple[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        object.__setattr__(self, "address", (parts.hostname or "127.0.0.1", parts.port or 80))

    @classmethod
    def parse(cls, data: Any, where: str) -> Backend:
        """A backend from `{"version": "3", "url": "http://127.0.0.1:8081"}` (optionally `"protocol"`)."""
        if not isinstance(data, Mapping) or not isinstance(data.get("url"), str):
            raise RouteError(f"{where}: expected an object with 'version' and 'url'")
        parts = urlsplit(data["url"])
        if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/"):
            raise RouteError(f"{where}.url: expected http://host:port, got {data['url']!r}")
        protocol = data.get("protocol", KSERVE)
        if protocol not in PROTOCOLS:
            raise RouteError(f"{where}.protocol: expected one of {list(PROTOCOLS)}, got {protocol!r}")
        return cls(version=str(data.get("version", "")), url=data["url"].rstrip("/"), protocol=protocol)

    def path(self, *, model: str, v1: bool) -> str | None:
        """The backend's path for a V1 predict or V2 infer request; None when it cannot take that protocol."""
        if self.protocol == MLFLOW:
            return "/invocations" if v1 else None
        return f"/v1/models/{model}:predict" if v1 else f"/v2/models/{model}/infer"


@dataclass(frozen=True, kw_only=True)
class Route:
    """Where one deployment's requests go; replaced whole, never mutated, so swaps are atomic."""

    deployment: str
    model: str
    stable: Backend
    canary: Backend | None = None
    canary_weight: int = 0
    shadow: Backend | None = None
    shadow_percent: int = 0
    sticky_header: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The route as the admin API returns it."""
        def backend(b: Backend | None) -> dict[str, str] | None:
            return None if b is None else {"version": b.version, "url": b.url, "protocol": b.protocol}

        return {"deployment": self.deployment, "model": self.model, "stable": backend(self.stable),
                "canary": backend(self.canary), "canary_weight": self.canary_weight,
                "shadow": backend(self.shadow), "shadow_percent": self.shadow_percent,
                "sticky_header": self.sticky_header}


def parse_route(deployment: str, data: Any) -> Route:
    """A Route from the admin API's JSON; RouteError names the offending field."""
    if not isinstance(data, Mapping):
        raise RouteError("expected a JSON object")
    unknown = set(data) - {"deployment", "model", "stable", "canary", "canary_weight", "shadow",
                           "shadow_percent", "sticky_header"}
    if unknown:
        raise RouteError(f"unknown fields {sorted(unknown)}")
    if not isinstance(data.get("model"), str) or not data["model"]:
        raise RouteError("model: the registered model name is required")
    canary = Backend.parse(data["canary"], "canary") if data.get("canary") else None
    shadow = Backend.parse(data["shadow"], "shadow") if data.get("shadow") else None
    weight, percent = data.get("canary_weight", 0), data.get("shadow_percent", 0)
    for name, value in (("canary_weight", weight), ("shadow_percent", percent)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100:
            raise RouteError(f"{name}: expected an integer 0..100, got {value!r}")
    if weight and canary is None:
        raise RouteError("canary_weight: a weight needs a canary backend")
    if percent and shadow is None:
        raise RouteError("shadow_percent: a mirror percent needs a shadow backend")
    sticky = data.get("sticky_header")
    stable = Backend.parse(data.get("stable"), "stable")
    return Route(deployment=deployment, model=data["model"], stable=stable,
                 canary=canary, canary_weight=weight, shadow=shadow, shadow_percent=percent,
                 sticky_header=sticky.lower() if isinstance(sticky, str) and sticky else None)


def bucket(value: str) -> float:
    """A stable position in [0, 100) for a sticky-header value."""
    return (zlib.crc32(value.encode()) % 10_000) / 100.0


def choose(route: Route, *, draw: float, sticky_value: str | None = None) -> tuple[Backend, str]:
    """The backend and role for one request; `draw` is uniform in [0, 100)."""
    if route.canary is None or route.canary_weight == 0:
        return route.stable, STABLE
    position = bucket(sticky_value) if sticky_value is not None else draw
    return (route.canary, CANARY) if position < route.canary_weight else (route.stable, STABLE)


def should_mirror(route: Route, *, draw: float) -> bool:
    """Whether this request is also sent to the shadow; `draw` is uniform in [0, 100)."""
    return route.shadow is not None and draw < route.shadow_percent
