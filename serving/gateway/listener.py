"""The gateway's server side of HTTP/1.1: parse with httptools, answer in order, within `HttpLimits`.

One `ServerProtocol` per client connection. Every connection is bounded: its head must arrive
within `header_timeout` of its first byte (or of the connection, for the first request), its body
within `body_timeout`; an idle keep-alive connection closes after `idle_timeout`; a declared
content-length over `max_body` is refused 413 before any of the body is read. Pipelined requests
are handled concurrently, up to `max_pipeline` in flight (reading pauses beyond that, so a client
that sends without reading holds bounded memory), and answered in the order they came. Beyond
`max_connections` open connections a new one is answered 503 and closed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from typing import cast

import httptools

from kubeloop.serving.core.limits import HttpLimits
from kubeloop.serving.gateway.http import Handler, Request, Response, encode_response

log = logging.getLogger(__name__)
_JSON = [("content-type", "application/json")]


class _Stop(Exception):
    """Raised in a parser callback to stop parsing a request that was refused."""


def refusal(status: int, message: str) -> Response:
    """A JSON error response."""
    return Response(status=status, body=json.dumps({"error": message}).encode(), headers=list(_JSON))


class Connections:
    """The open connections of one listening server, counted against its limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._transports: set[asyncio.Transport] = set()

    @property
    def open(self) -> int:
        """How many connections are open."""
        return len(self._transports)

    def add(self, transport: asyncio.Transport) -> None:
        """Count a connection just made."""
        self._transports.add(transport)

    def discard(self, transport: asyncio.Transport) -> None:
        """Forget a connection that ended."""
        self._transports.discard(transport)

    def close_all(self) -> None:
        """Close every connection still open: `asyncio.Server.close` (Python 3.11) leaves them open."""
        for transport in list(self._transports):
            transport.close()


class ServerProtocol(asyncio.Protocol):
    """One client connection: parse requests, answer them in order, keep the connection alive."""

    def __init__(self, handler: Handler, *, limits: HttpLimits, connections: Connections) -> None:
        self.handler, self.limits, self.connections = handler, limits, connections
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self._pending: deque[tuple[asyncio.Future[Response], bool]] = deque()  # started, in order
        self._waiting: deque[tuple[Request | Response, bool]] = deque()  # received, not yet started
        self._timer: asyncio.TimerHandle | None = None
        self._writing = self._closing = self._paused = self._parsing = False
        self._reset()

    def _reset(self) -> None:
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._size = self._head_bytes = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's transports are not registered subclasses
        self.transport = transport
        if self.connections.open >= self.connections.limit:
            self._closing = True
            message = f"the gateway has {self.connections.limit} connections open; retry later"
            transport.write(encode_response(refusal(503, message), keep_alive=False))
            transport.close()
            return
        self.connections.add(transport)
        self._arm(self.limits.header_timeout, idle=False)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.connections.discard(self.transport)
        self._disarm()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(400, "protocol upgrades are not supported")
        except httptools.HttpParserError:
            if not self._closing:
                self._refuse(400, "malformed HTTP request")

    def on_message_begin(self) -> None:
        self._parsing = True
        self._arm(self.limits.header_timeout, idle=False)

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._count_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")
        self._count_head(len(name) + len(value))

    def on_headers_complete(self) -> None:
        declared = self._headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.limits.max_body:
            self._too_large()
        self._arm(self.limits.body_timeout, idle=False)

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self.limits.max_body:
            self._too_large()
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._disarm()
        self._parsing = False
        request = Request(method=self.parser.get_method().decode(), path=self._url.decode("latin-1"),
                          headers=self._headers, body=b"".join(self._body))
        self._reset()
        self._queue(request, keep_alive=self.parser.should_keep_alive())

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self.limits.max_header_bytes:
            self._refuse(431, f"request head exceeds {self.limits.max_header_bytes} bytes")
            raise _Stop

    def _too_large(self) -> None:
        self._refuse(413, f"request body exceeds the limit of {self.limits.max_body} bytes")
        raise _Stop

    def _refuse(self, status: int, message: str) -> None:
        """Answer `status` after the requests already received, then close; read nothing more."""
        self._closing = True
        self._disarm()
        if self.transport is not None:
            self.transport.pause_reading()
        self._queue(refusal(status, message), keep_alive=False)

    def _queue(self, request: Request | Response, *, keep_alive: bool) -> None:
        """Start the request now if fewer than `max_pipeline` are in flight, else when one is answered.

        httptools cannot stop in the middle of a read, so the requests of one read beyond the limit
        wait here unstarted, and reading pauses until they are under way: bounded memory either way.
        """
        self._waiting.append((request, keep_alive))
        self._start_waiting()
        if self._waiting and self.transport is not None and not self._paused:
            self._paused = True
            self.transport.pause_reading()
        if not self._writing:
            self._writing = True
            asyncio.ensure_future(self._answer_in_order())

    def _start_waiting(self) -> None:
        while self._waiting and len(self._pending) < self.limits.max_pipeline:
            item, keep_alive = self._waiting.popleft()
            if isinstance(item, Response):
                answer: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
                answer.set_result(item)
            else:
                answer = asyncio.ensure_future(self.handler(item))
            self._pending.append((answer, keep_alive))

    async def _answer_in_order(self) -> None:
        while self._pending and self.transport is not None:
            answer, keep_alive = self._pending[0]
            try:
                response = await answer
            except Exception:  # the client still gets an answer, and it is logged
                log.exception("the gateway failed to answer a request")
                response = refusal(500, "the gateway failed to answer this request; see its log")
            self._pending.popleft()
            self._start_waiting()
            if self.transport is None:
                break
            self.transport.write(encode_response(response, keep_alive=keep_alive))
            if not keep_alive:
                self.transport.close()
                break
            if self._paused and not self._waiting and not self._closing:
                self._paused = False
                self.transport.resume_reading()
        self._writing = False
        if not self._pending and not self._parsing and not self._closing and self.transport is not None:
            self._arm(self.limits.idle_timeout, idle=True)

    def _arm(self, seconds: float, *, idle: bool) -> None:
        self._disarm()
        self._timer = asyncio.get_running_loop().call_later(seconds, self._expired, seconds, idle)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self, seconds: float, idle: bool) -> None:
        self._timer = None
        if self.transport is None or self._closing:
            return
        if idle:
            self._closing = True
            self.transport.close()
        else:
            self._refuse(408, f"the request did not arrive within {seconds:g}s")
