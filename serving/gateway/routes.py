"""The gateway's route table and its pure decisions: which backend answers, whether to mirror.

A route belongs to a deployment: a stable backend, an optional canary with a weight, an optional
shadow with a mirror percent, and optionally a header whose value makes the split sticky. `Route`
and `Backend` are pydantic dataclasses: pydantic checks a document (the admin API's PUT body, one
entry of the routes file) as it builds them, and requests read them as frozen dataclasses. They
have slots: pydantic sets an unslotted dataclass's `__dict__` whole, and reads from it were slower
(a route lookup took 1.4x a stdlib dataclass's in `bench/bench_routes.py`); slotted ones read as
fast. No hand-written parser is kept: that benchmark finds loads as fast and file writes faster.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from dataclasses import field
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
)
from pydantic.dataclasses import dataclass

from kubeloop.spec import describe_validation_error

STABLE, CANARY, SHADOW = "champion", "challenger", "shadow"
# What a backend speaks: KServe's V1/V2 paths (kubeloop's runtimes, KServe, MLServer, Triton), or the
# MLflow scoring server's single `/invocations` route, which takes the V1 `instances` body as is.
KSERVE, MLFLOW = "kserve", "mlflow"
PROTOCOLS = (KSERVE, MLFLOW)
# Pydantic's error types for a key the document does not have (dataclass and model wording).
_UNKNOWN_FIELD = ("unexpected_keyword_argument", "extra_forbidden")
_DOCUMENT = ConfigDict(extra="forbid")
# A version given as a JSON number (written by hand) is taken as its string, as it always was.
_BACKEND = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


class RouteError(ValueError):
    """A route document the admin API refuses; the message names the field."""


def _says(message: str) -> WrapValidator:
    """A field's checks (pydantic's and ours) reported in one sentence; `{got}` is the value refused."""
    def validate(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise ValueError(message.format(got=repr(value))) from None

    return WrapValidator(validate)


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError("not http://host:port")
    return url.rstrip("/")


def _header_name(name: str | None) -> str | None:
    return name.lower() if name else None  # header names are case-insensitive; requests carry lower case


Url = Annotated[str, Field(strict=True), AfterValidator(_host_port),
                _says("expected http://host:port, got {got}")]
WireProtocol = Annotated[Literal["kserve", "mlflow"],
                         _says(f"expected one of {list(PROTOCOLS)}, got {{got}}")]
Percent = Annotated[int, Field(strict=True, ge=0, le=100), _says("expected an integer 0..100, got {got}")]
ModelName = Annotated[str, Field(strict=True, min_length=1), _says("the registered model name is required")]
Header = Annotated[str | None, Field(strict=True), AfterValidator(_header_name)]


@dataclass(frozen=True, kw_only=True, slots=True, config=_BACKEND)
class Backend:
    """One model server: the version it serves, where it listens (http://host:port), what it speaks."""

    version: str
    url: Url
    protocol: WireProtocol = "kserve"
    # (host, port) to connect to, parsed once rather than on every request.
    address: tuple[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        object.__setattr__(self, "address", (parts.hostname or "127.0.0.1", parts.port or 80))

    def path(self, *, model: str, v1: bool) -> str | None:
        """The backend's path for a V1 predict or V2 infer request; None when it cannot take that protocol."""
        if self.protocol == MLFLOW:
            return "/invocations" if v1 else None
        return f"/v1/models/{model}:predict" if v1 else f"/v2/models/{model}/infer"


@dataclass(frozen=True, kw_only=True, slots=True, config=_DOCUMENT)
class Route:
    """Where one deployment's requests go; replaced whole, never mutated, so swaps are atomic."""

    deployment: str
    # A default only so that a missing name gets the same message as an empty one.
    model: ModelName = Field(default="", validate_default=True)
    stable: Backend
    canary: Backend | None = None
    canary_weight: Percent = 0
    shadow: Backend | None = None
    shadow_percent: Percent = 0
    sticky_header: Header = None

    @field_validator("canary_weight", "shadow_percent")
    @classmethod
    def _needs_its_backend(cls, value: int, info: ValidationInfo) -> int:
        role = "canary" if info.field_name == "canary_weight" else "shadow"
        if value and role in info.data and info.data[role] is None:  # absent: that backend was refused
            what = "a weight needs a canary" if role == "canary" else "a mirror percent needs a shadow"
            raise ValueError(f"{what} backend")
        return value

    def to_json(self) -> dict[str, Any]:
        """The route as the admin API returns it and the routes file keeps it."""
        document: dict[str, Any] = _ROUTE.dump_python(self, mode="json")
        return document


_ROUTE = TypeAdapter(Route)
_ROUTES = TypeAdapter(dict[str, Route])


def _describe(error: ValidationError) -> str:
    """Pydantic's problems by field path; unknown fields listed per object, as the gateway always said."""
    unknown: dict[str, list[str]] = {}
    for problem in error.errors():
        if problem["type"] in _UNKNOWN_FIELD:
            *parent, name = problem["loc"]
            unknown.setdefault(".".join(map(str, parent)), []).append(str(name))
    if not unknown:
        return describe_validation_error(error)
    return "; ".join(f"{where}: " * bool(where) + f"unknown fields {sorted(names)}"
                     for where, names in unknown.items())


def parse_route(deployment: str, data: Any) -> Route:
    """A Route from the admin API's JSON; RouteError names the offending field."""
    if not isinstance(data, Mapping):
        raise RouteError("expected a JSON object")
    try:
        return _ROUTE.validate_python({**data, "deployment": deployment})  # the admin path's name wins
    except ValidationError as error:
        raise RouteError(_describe(error)) from None


def load_routes(text: str | bytes) -> dict[str, Route]:
    """The routes file, `{deployment: route}`; RouteError names the deployment and the field."""
    document = json.loads(text)
    if not isinstance(document, Mapping):
        raise RouteError("expected a JSON object of routes by deployment")
    routes = {}
    for deployment, data in document.items():
        try:
            routes[deployment] = parse_route(deployment, data)
        except RouteError as error:
            raise RouteError(f"{deployment}: {error}") from None
    return routes


def dump_routes(routes: Mapping[str, Route]) -> str:
    """The routes file's text: what `load_routes` reads back as the same routes."""
    return _ROUTES.dump_json(dict(routes), indent=2).decode()


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
