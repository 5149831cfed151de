"""Minimal HTTP/1.1 on asyncio protocols with httptools: messages and the gateway's keep-alive client.

Why not aiohttp: a plain aiohttp reverse proxy added about 2 ms at p50 here, mostly per-request
object churn (request/response objects, header multidicts, stream readers). The proxy only needs
whole-body requests and responses with content-length, so both sides parse with httptools straight
into bytes and a dict, and backend connections stay open in a per-address pool. The server side,
with its limits, is `kubeloop.serving.gateway.listener`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import cast

import httptools

_REASONS = {status.value: status.phrase.encode() for status in HTTPStatus}


@dataclass(kw_only=True)
class Request:
    """A parsed request: method, path, lower-case headers and the whole body."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(kw_only=True)
class Response:
    """A response to send or one received: status, headers (name, value) and body."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)


Handler = Callable[[Request], Awaitable[Response]]


def encode_response(response: Response, *, keep_alive: bool) -> bytes:
    """The bytes of a response with a content-length."""
    lines = [b"HTTP/1.1 %d %s" % (response.status, _REASONS.get(response.status, b"Unknown"))]
    lines += [f"{name}: {value}".encode("latin-1") for name, value in response.headers]
    lines.append(b"content-length: %d" % len(response.body))
    if not keep_alive:
        lines.append(b"connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + response.body


class _ClientProtocol(asyncio.Protocol):
    """One keep-alive connection to a backend; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[Response] | None = None
        self._headers: list[tuple[str, str]] = []
        self._body: list[bytes] = []
        self.keep_alive = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a connection's transport is a full Transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionResetError("backend closed the connection"))

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_exception(ConnectionError(f"malformed backend response: {error}"))
            self.close()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.decode("latin-1").lower(), value.decode("latin-1")))

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        response = Response(status=self.parser.get_status_code(), body=b"".join(self._body),
                            headers=self._headers)
        self.keep_alive = self.parser.should_keep_alive()
        self._headers, self._body = [], []
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(response)

    def close(self) -> None:
        """Close the connection, if it is still open."""
        if self.transport is not None:
            self.transport.close()

    def send(self, data: bytes) -> asyncio.Future[Response]:
        """Write a request and return the future of its response."""
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.waiter


class ClientPool:
    """Keep-alive connections per backend address; a refused connect raises ConnectionRefusedError."""

    def __init__(self, *, max_idle: int = 256) -> None:
        self.max_idle = max_idle
        self._idle: dict[tuple[str, int], list[_ClientProtocol]] = {}

    async def request(self, address: tuple[str, int], head: bytes, body: bytes, *,
                      timeout: float) -> Response:
        """Send one request (`head` is the request line and headers, without content-length)."""
        data = head + b"content-length: %d\r\n\r\n" % len(body) + body
        idle = self._idle.setdefault(address, [])
        while idle:
            connection = idle.pop()
            if connection.transport is None or connection.transport.is_closing():
                continue
            try:
                return await self._exchange(address, connection, data, timeout)
            except ConnectionResetError:
                continue  # the backend closed an idle connection: try another or a fresh one
        loop = asyncio.get_running_loop()
        _, connection = await asyncio.wait_for(
            loop.create_connection(_ClientProtocol, *address), timeout=min(timeout, 5.0)
        )
        return await self._exchange(address, connection, data, timeout)

    async def _exchange(self, address: tuple[str, int], connection: _ClientProtocol, data: bytes,
                        timeout: float) -> Response:
        future = connection.send(data)
        handle = asyncio.get_running_loop().call_later(timeout, _expire, future, connection)
        try:
            response = await future
        except BaseException:
            # Cancelled or failed halfway: the connection holds a request without its answer.
            connection.close()
            raise
        finally:
            handle.cancel()
        idle = self._idle[address]
        if connection.keep_alive and connection.transport is not None and len(idle) < self.max_idle:
            idle.append(connection)
        else:
            connection.close()
        return response

    def close(self) -> None:
        """Close every idle connection (one in use is closed when its exchange ends or is cancelled)."""
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()


def _expire(future: asyncio.Future[Response], connection: _ClientProtocol) -> None:
    if not future.done():
        future.set_exception(TimeoutError("backend did not answer in time"))
    connection.close()
