"""KServe's HTTP server held to `HttpLimits`, answering only what kubeloop needs.

uvicorn (under KServe's RESTServer) bounds idle keep-alive connections and concurrency (503 beyond
`limit_concurrency`), but nothing bounds the wait for a request head: a client sending half a head
keeps its connection for ever. `bounded_protocol` adds that deadline to uvicorn's httptools
protocol. `RepositoryGuard` refuses KServe's model-repository extension (`/v2/repository/...`):
a kubeloop server loads its one verified model at start, and an unauthenticated `unload` would
make the model's readiness and metadata routes answer that it does not exist.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from kubeloop.serving.core.asgi import ASGIApp, Receive, Scope, Send, send_json
from kubeloop.serving.core.limits import HttpLimits

REPOSITORY_PREFIX = "/v2/repository/"
_TIMEOUT_408 = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class _HeadDeadline(HttpToolsProtocol):
    """uvicorn's protocol, closing a connection whose request head is not complete in time."""

    header_timeout = HttpLimits().header_timeout
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # as uvicorn's
        super().connection_made(transport)
        self._arm_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_head()

    def on_headers_complete(self) -> None:
        self._disarm_head()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head()
        super().connection_lost(exc)

    def _arm_head(self) -> None:
        self._disarm_head()
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_expired)

    def _disarm_head(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_expired(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.write(_TIMEOUT_408)
            self.transport.close()


def bounded_protocol(limits: HttpLimits) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with the limits' header timeout."""
    return type("BoundedHttpToolsProtocol", (_HeadDeadline,), {"header_timeout": limits.header_timeout})


def apply_limits(config: Any, limits: HttpLimits) -> None:
    """Bound a uvicorn Config (before it is loaded): idle, concurrency, request heads."""
    config.timeout_keep_alive = max(1, int(limits.idle_timeout))
    config.limit_concurrency = limits.max_connections
    config.http = bounded_protocol(limits)


class RepositoryGuard:
    """Refuses the model-repository extension (load/unload); passes everything else on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route one ASGI event."""
        if scope["type"] == "http" and scope["path"].startswith(REPOSITORY_PREFIX):
            message = ("the model repository extension is disabled: this server serves the one "
                       "registered model it verified at start")
            await send_json(send, 403, orjson.dumps({"error": message}))
            return
        await self.app(scope, receive, send)
