"""Run the gateway: `python -m kubeloop.serving.gateway --port 8080 [--routes-file routes.json]`.

The admin token comes from KUBELOOP_GATEWAY_TOKEN or from `--token-file`, never from the command line
(other users can read process arguments). Client limits (`kubeloop.serving.core.limits`) come from
flags such as `--header-timeout 10 --max-connections 1000`, else KUBELOOP_GATEWAY_* variables, else
the defaults. SIGTERM stops accepting, lets in-flight requests finish (up to the grace period) and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import gc
import os
import resource
import signal
from pathlib import Path

from kubeloop.serving.core.limits import GATEWAY_PREFIX, HttpLimits
from kubeloop.serving.gateway.app import Gateway
from kubeloop.serving.gateway.listener import Connections, ServerProtocol

TOKEN_ENV = "KUBELOOP_GATEWAY_TOKEN"


def read_token(token_file: Path | None) -> str:
    """The admin token from the file, else the environment; SystemExit naming both when neither is set."""
    if token_file is not None:
        token = token_file.read_text().strip()
    else:
        token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise SystemExit(f"the gateway needs an admin token: set {TOKEN_ENV} or pass --token-file")
    return token


async def serve(*, host: str, port: int, token: str, routes_file: Path | None, grace: float = 10.0,
                ready: asyncio.Event | None = None, labels_dir: Path | None = None,
                limits: HttpLimits | None = None) -> None:
    """Serve until SIGTERM/SIGINT (or cancellation)."""
    limits = limits or HttpLimits()
    gateway = Gateway(token=token, routes_file=routes_file, labels_dir=labels_dir, max_body=limits.max_body)
    gateway.start()
    loop = asyncio.get_running_loop()
    connections = Connections(limits.max_connections)
    allow_open_files(limits.max_connections)
    server = await loop.create_server(
        lambda: ServerProtocol(gateway.handle, limits=limits, connections=connections),
        host, port, backlog=2048, reuse_address=True,
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    # As in the model servers: full collections then skip the long-lived objects of start-up.
    gc.collect()
    gc.freeze()
    try:
        await stop.wait()
    finally:
        server.close()
        try:
            await asyncio.wait_for(_drain(server), timeout=grace)
        except TimeoutError:
            pass  # in-flight requests past the grace period are cut
        connections.close_all()
        await gateway.close()


async def _drain(server: asyncio.Server) -> None:
    # Python 3.11's wait_closed returns at once; give in-flight requests a moment to be answered.
    await server.wait_closed()
    await asyncio.sleep(0.2)


def allow_open_files(connections: int) -> None:
    """Raise the soft open-file limit (to the hard one at most) so `connections` clients fit beside the
    backend pools; a default soft limit of 1,024 would fail accepts before the connection limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * connections + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="kubeloop-gateway", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--routes-file", type=Path, default=None, help="load routes from and save them to")
    parser.add_argument("--token-file", type=Path, default=None)
    parser.add_argument("--labels-dir", type=Path, default=None,
                        help="take labels and store them here (the prediction-log folder)")
    HttpLimits.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        limits = HttpLimits.from_env(GATEWAY_PREFIX).with_arguments(args)
    except ValueError as error:
        raise SystemExit(f"kubeloop-gateway: {error}") from None
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1` prints where it is stuck
    token = read_token(args.token_file)
    import uvloop

    uvloop.run(serve(host=args.host, port=args.port, token=token, routes_file=args.routes_file,
                     labels_dir=args.labels_dir, limits=limits))
