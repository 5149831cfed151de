"""How much one client may hold of an HTTP server: the gateway's and the model servers' bounds.

Every field is a limit a slow or hostile client meets instead of the server's memory or sockets:
a request head that never completes is cut at `header_timeout` (408), a body at `body_timeout`; an
idle keep-alive connection is closed after `idle_timeout`; beyond `max_connections` a new
connection is answered 503 and closed; a body declared (or grown) over `max_body` is refused 413 at
once; a head over `max_header_bytes` gets 431; at most `max_pipeline` pipelined requests of one
connection are in flight before the server stops reading from it. Set from flags or environment
variables `<prefix>HEADER_TIMEOUT`, `<prefix>MAX_CONNECTIONS`, ... (prefix KUBELOOP_GATEWAY_ for the
gateway, KUBELOOP_SERVE_ for model servers).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

GATEWAY_PREFIX = "KUBELOOP_GATEWAY_"
SERVER_PREFIX = "KUBELOOP_SERVE_"


@dataclass(frozen=True, kw_only=True)
class HttpLimits:
    """Bounds on what one client can make an HTTP server hold (seconds, counts, bytes)."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    idle_timeout: float = 60.0
    max_connections: int = 1000
    max_body: int = 4 << 20
    max_header_bytes: int = 64 << 10
    max_pipeline: int = 16

    def __post_init__(self) -> None:
        for item in fields(self):
            if getattr(self, item.name) <= 0:
                raise ValueError(f"{item.name} must be positive, got {getattr(self, item.name)!r}")

    @classmethod
    def from_env(cls, prefix: str, env: Mapping[str, str] | None = None) -> HttpLimits:
        """The defaults, overridden by `<prefix><FIELD>` variables; a bad value is named."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for item in fields(cls):
            name = prefix + item.name.upper()
            if env.get(name):
                values[item.name] = _parse(name, env[name], float if "timeout" in item.name else int)
        return cls(**values)

    def to_env(self, prefix: str) -> dict[str, str]:
        """The limits as environment variables, for a process started by another program."""
        return {prefix + item.name.upper(): str(getattr(self, item.name)) for item in fields(self)}

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        """Flags `--header-timeout`, `--max-connections`, ... (unset: the environment's or the default)."""
        for item in fields(HttpLimits):
            kind = float if "timeout" in item.name else int
            parser.add_argument("--" + item.name.replace("_", "-"), type=kind, default=None,
                                help=f"default {item.default}")

    def with_arguments(self, args: argparse.Namespace) -> HttpLimits:
        """These limits with every flag that was given."""
        given = {item.name: getattr(args, item.name) for item in fields(self)
                 if getattr(args, item.name, None) is not None}
        return replace(self, **given)


def _parse(name: str, raw: str, kind: type[float] | type[int]) -> float | int:
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{name}: expected a {kind.__name__}, got {raw!r}") from None
