"""The gateway's listener against a stub handler: every limit a client can meet, on loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from kubeloop.serving.core.limits import HttpLimits
from kubeloop.serving.gateway.http import Request, Response
from kubeloop.serving.gateway.listener import Connections, ServerProtocol

LIMITS = HttpLimits(header_timeout=0.3, body_timeout=0.3, idle_timeout=0.3, max_connections=2,
                    max_body=100, max_header_bytes=300, max_pipeline=4)


async def echo(request: Request) -> Response:
    return Response(status=200, body=request.path.encode())


def run(test: Callable[[int], Awaitable[None]], handler: Callable[[Request], Awaitable[Response]] = echo,
        limits: HttpLimits = LIMITS) -> None:
    async def main() -> None:
        connections = Connections(limits.max_connections)
        server = await asyncio.get_running_loop().create_server(
            lambda: ServerProtocol(handler, limits=limits, connections=connections), "127.0.0.1", 0)
        try:
            await test(server.sockets[0].getsockname()[1])
        finally:
            server.close()
            await server.wait_closed()

    asyncio.run(main())


@contextlib.asynccontextmanager
async def connection(port: int) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A client connection, closed on the way out (a connection the server reset is closed already)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def exchange(port: int, data: bytes) -> bytes:
    async with connection(port) as (reader, writer):
        writer.write(data)
        return await asyncio.wait_for(reader.read(), 5)


def test_a_head_that_never_completes_is_answered_408_and_closed() -> None:
    async def check(port: int) -> None:
        answer = await exchange(port, b"GET /a HTTP/1.1\r\nhost: x\r\n")
        assert answer.startswith(b"HTTP/1.1 408") and b"connection: close" in answer

    run(check)


def test_a_declared_body_over_the_limit_is_refused_before_any_of_it() -> None:
    async def check(port: int) -> None:
        answer = await exchange(port, b"POST /a HTTP/1.1\r\ncontent-length: 101\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 413") and b"exceeds the limit of 100 bytes" in answer

    run(check)


def test_an_oversized_head_gets_431() -> None:
    async def check(port: int) -> None:
        answer = await exchange(port, b"GET /a HTTP/1.1\r\nx-big: " + b"y" * 400 + b"\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 431")

    run(check)


def test_an_idle_keep_alive_connection_is_closed_and_a_third_connection_gets_503() -> None:
    async def check(port: int) -> None:
        async with connection(port) as first:
            async with connection(port):
                assert (await exchange(port, b"GET /x HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 503")
                first[1].write(b"GET /one HTTP/1.1\r\n\r\n")
                answered = await asyncio.wait_for(first[0].read(), 5)  # answered, then closed when idle
                assert answered.startswith(b"HTTP/1.1 200") and answered.endswith(b"/one")
        await asyncio.sleep(0.1)
        assert (await exchange(port, b"GET /ok HTTP/1.1\r\nconnection: close\r\n\r\n")).endswith(b"/ok")

    run(check)


def test_pipelined_requests_run_at_most_max_pipeline_at_once_and_are_answered_in_order() -> None:
    started: list[str] = []
    release = asyncio.Event()

    async def slow(request: Request) -> Response:
        started.append(request.path)
        await release.wait()
        return Response(status=200, body=request.path.encode())

    async def check(port: int) -> None:
        async with connection(port) as (reader, writer):
            writer.write(b"".join(b"GET /%d HTTP/1.1\r\n\r\n" % i for i in range(40)))
            await asyncio.sleep(0.2)
            assert started == ["/0", "/1", "/2", "/3"], "only max_pipeline requests may be in flight"
            release.set()
            data = b""
            while data.count(b"HTTP/1.1 200") < 40:
                data += await asyncio.wait_for(reader.read(65536), 5)
        bodies = [part.split(b"\r\n\r\n", 1)[1][: len(b"/%d" % i)] for i, part in
                  enumerate(data.split(b"HTTP/1.1 200 OK\r\n")[1:])]
        assert bodies == [b"/%d" % i for i in range(40)]

    run(check, handler=slow, limits=HttpLimits(max_pipeline=4, idle_timeout=5))
