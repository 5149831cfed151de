"""Gateway routes: the pydantic route models against the hand-written parser they replaced, side by side.

What a user waits for: the gateway's start (it loads the routes file), each admin write (`PUT
/admin/routes/<deployment>` parses one route document and rewrites the whole file) and, on every
request, the route lookup (find the deployment's route, choose the backend, decide the mirror). The
baseline is the parser and serialiser the gateway had before (`HandWritten*` below, kept here only).
Routes files of 1, 50 and 500 deployments; a third have a canary, a third a shadow, some are sticky.
Run: `python bench/bench_routes.py [--repeat 5]`.
"""

from __future__ import annotations

import argparse
import json
import random
import timeit
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from kubeloop.serving.gateway import routes as ours

SIZES = (1, 50, 500)
LOOKUPS = 1000  # requests per timed call of the route lookup
_FIELDS = {"deployment", "model", "stable", "canary", "canary_weight", "shadow", "shadow_percent",
           "sticky_header"}


class HandWrittenError(ValueError):
    """The baseline's RouteError."""


@dataclass(frozen=True, kw_only=True)
class HandWrittenBackend:
    """The gateway's Backend before pydantic (a stdlib frozen dataclass, address parsed at init)."""

    version: str
    url: str
    protocol: str = ours.KSERVE
    address: tuple[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        object.__setattr__(self, "address", (parts.hostname or "127.0.0.1", parts.port or 80))

    @classmethod
    def parse(cls, data: Any, where: str) -> HandWrittenBackend:
        """The baseline's `Backend.parse`."""
        if not isinstance(data, Mapping) or not isinstance(data.get("url"), str):
            raise HandWrittenError(f"{where}: expected an object with 'version' and 'url'")
        parts = urlsplit(data["url"])
        if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/"):
            raise HandWrittenError(f"{where}.url: expected http://host:port, got {data['url']!r}")
        protocol = data.get("protocol", ours.KSERVE)
        if protocol not in ours.PROTOCOLS:
            known = list(ours.PROTOCOLS)
            raise HandWrittenError(f"{where}.protocol: expected one of {known}, got {protocol!r}")
        return cls(version=str(data.get("version", "")), url=data["url"].rstrip("/"), protocol=protocol)

    def path(self, *, model: str, v1: bool) -> str | None:
        """The baseline's `Backend.path` (unchanged)."""
        if self.protocol == ours.MLFLOW:
            return "/invocations" if v1 else None
        return f"/v1/models/{model}:predict" if v1 else f"/v2/models/{model}/infer"


@dataclass(frozen=True, kw_only=True)
class HandWrittenRoute:
    """The gateway's Route before pydantic."""

    deployment: str
    model: str
    stable: HandWrittenBackend
    canary: HandWrittenBackend | None = None
    canary_weight: int = 0
    shadow: HandWrittenBackend | None = None
    shadow_percent: int = 0
    sticky_header: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The baseline's `Route.to_json`."""
        def backend(b: HandWrittenBackend | None) -> dict[str, str] | None:
            return None if b is None else {"version": b.version, "url": b.url, "protocol": b.protocol}

        return {"deployment": self.deployment, "model": self.model, "stable": backend(self.stable),
                "canary": backend(self.canary), "canary_weight": self.canary_weight,
                "shadow": backend(self.shadow), "shadow_percent": self.shadow_percent,
                "sticky_header": self.sticky_header}


def hand_written_parse_route(deployment: str, data: Any) -> HandWrittenRoute:
    """The baseline's `parse_route`."""
    if not isinstance(data, Mapping):
        raise HandWrittenError("expected a JSON object")
    unknown = set(data) - _FIELDS
    if unknown:
        raise HandWrittenError(f"unknown fields {sorted(unknown)}")
    if not isinstance(data.get("model"), str) or not data["model"]:
        raise HandWrittenError("model: the registered model name is required")
    canary = HandWrittenBackend.parse(data["canary"], "canary") if data.get("canary") else None
    shadow = HandWrittenBackend.parse(data["shadow"], "shadow") if data.get("shadow") else None
    weight, percent = data.get("canary_weight", 0), data.get("shadow_percent", 0)
    for name, value in (("canary_weight", weight), ("shadow_percent", percent)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100:
            raise HandWrittenError(f"{name}: expected an integer 0..100, got {value!r}")
    if weight and canary is None:
        raise HandWrittenError("canary_weight: a weight needs a canary backend")
    if percent and shadow is None:
        raise HandWrittenError("shadow_percent: a mirror percent needs a shadow backend")
    sticky = data.get("sticky_header")
    stable = HandWrittenBackend.parse(data.get("stable"), "stable")
    return HandWrittenRoute(deployment=deployment, model=data["model"], stable=stable,
                            canary=canary, canary_weight=weight, shadow=shadow, shadow_percent=percent,
                            sticky_header=sticky.lower() if isinstance(sticky, str) and sticky else None)


def hand_written_load(text: str) -> dict[str, HandWrittenRoute]:
    """What the gateway's start did with the routes file."""
    return {name: hand_written_parse_route(name, data) for name, data in json.loads(text).items()}


def hand_written_dump(routes: Mapping[str, HandWrittenRoute]) -> str:
    """What each admin write did to the routes file."""
    return json.dumps({name: route.to_json() for name, route in routes.items()}, indent=2)


def routes_file(size: int) -> str:
    """A routes file of `size` deployments, as the gateway writes it."""
    documents = {}
    for index in range(size):
        port = 9000 + 3 * index
        document: dict[str, Any] = {"model": f"model-{index}",
                                    "stable": {"version": "1", "url": f"http://127.0.0.1:{port}"}}
        if index % 3 == 1:
            document |= {"canary": {"version": "2", "url": f"http://127.0.0.1:{port + 1}"},
                         "canary_weight": 20, "sticky_header": "X-User" if index % 2 else None}
        if index % 3 == 2:
            document |= {"shadow": {"version": "2", "url": f"http://127.0.0.1:{port + 2}"},
                         "shadow_percent": 100}
        documents[f"deployment-{index}"] = document
    return ours.dump_routes(ours.load_routes(json.dumps(documents)))


def paired(theirs: Callable[[], object], mine: Callable[[], object], *, repeat: int) -> tuple[float, float]:
    """The best time of one call of each, in seconds; their rounds alternate, so load hits both alike."""
    number, _ = timeit.Timer(theirs).autorange()
    best = [float("inf"), float("inf")]
    for _ in range(repeat):
        for side, function in enumerate((theirs, mine)):
            best[side] = min(best[side], timeit.timeit(function, number=number) / number)
    return best[0], best[1]


def lookups(routes: Mapping[str, Any]) -> Callable[[], object]:
    """LOOKUPS requests' route work as the gateway's `_proxy` does it, on deployments drawn at random."""
    rng = random.Random(0)
    names = [rng.choice(list(routes)) for _ in range(LOOKUPS)]
    draws = [rng.random() * 100 for _ in range(LOOKUPS)]

    def run() -> object:
        mirrored = 0
        for name, draw in zip(names, draws, strict=True):
            route = routes[name]
            backend, _ = ours.choose(route, draw=draw, sticky_value="alice" if route.sticky_header else None)
            if backend.address and backend.path(model=route.model, v1=True):
                mirrored += ours.should_mirror(route, draw=draw)
        return mirrored

    return run


def rows(size: int, *, repeat: int) -> list[tuple[str, float, float, str]]:
    """(case, hand-written seconds, pydantic seconds, unit) for one routes file size."""
    text = routes_file(size)
    theirs, mine = hand_written_load(text), ours.load_routes(text)
    assert {n: r.to_json() for n, r in theirs.items()} == {n: r.to_json() for n, r in mine.items()}
    one = json.dumps(next(iter(json.loads(text).values())))

    def theirs_put() -> object:
        return hand_written_parse_route("deployment-0", json.loads(one)), hand_written_dump(theirs)

    def ours_put() -> object:
        return ours.parse_route("deployment-0", json.loads(one)), ours.dump_routes(mine)

    start = paired(lambda: hand_written_load(text), lambda: ours.load_routes(text), repeat=repeat)
    put = paired(theirs_put, ours_put, repeat=repeat)
    request = paired(lookups(theirs), lookups(mine), repeat=repeat)
    return [("gateway start: load the routes file", *start, "ms"),
            ("admin PUT: parse one route, write the file", *put, "ms"),
            ("request: route lookup, choose, mirror", request[0] / LOOKUPS, request[1] / LOOKUPS, "us")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timing rounds; the best is shown")
    args = parser.parse_args()
    header = f"{'case':<44} {'deployments':>11} {'hand-written':>13} {'pydantic':>10} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    for size in SIZES:
        for case, theirs, mine, unit in rows(size, repeat=args.repeat):
            scale = 1e3 if unit == "ms" else 1e6
            print(f"{case:<44} {size:>11} {theirs * scale:>10.3f} {unit} {mine * scale:>7.3f} {unit} "
                  f"{mine / theirs:>6.2f}")
    print(f"ratio: pydantic's time over the hand-written parser's (above 1: pydantic is slower); best of "
          f"{args.repeat} rounds.\nLoads happen at gateway start, PUTs on each route change, the lookup "
          "on every request.")


if __name__ == "__main__":
    main()
