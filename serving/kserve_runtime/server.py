"""Run the kubeloop model under KServe's ModelServer, optionally as several forked workers on one socket.

Usage: `python -m kubeloop.serving.kserve_runtime --deployment iris --model iris-classifier --ref champion
--port 8080 [--workers 2]`. The model is downloaded and verified once, before forking; each worker
builds its own engine (prediction-log thread, metrics) after the fork.
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kubeloop.serving.core.limits import SERVER_PREFIX, HttpLimits
from kubeloop.serving.core.metrics import enable_multiprocess
from kubeloop.serving.core.model import LoadedModel
from kubeloop.serving.core.runtime import RuntimeConfig, build_engine, load_model, settle_heap


def bind(host: str, port: int) -> socket.socket:
    """A listening socket shared by every worker (the kernel balances accepts between them)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run_worker(config: RuntimeConfig, model: LoadedModel, sock: socket.socket, *,
               fast_path: bool = True) -> None:
    """One KServe ModelServer worker on the shared socket, until SIGTERM/SIGINT; flushes logs on exit."""
    import kserve
    import kserve.model_server
    from kserve.constants.constants import FASTAPI_APP_IMPORT_STRING
    from kserve.protocol.rest.server import RESTServer

    from kubeloop.serving.core.asgi import ASGIApp, PredictMiddleware
    from kubeloop.serving.kserve_runtime.bounds import RepositoryGuard, apply_limits
    from kubeloop.serving.kserve_runtime.model import KubeloopModel

    engine = build_engine(config, model)
    settle_heap()
    server = kserve.ModelServer(http_port=config.port, workers=1, enable_grpc=False,
                                enable_latency_logging=False)
    server.register_model(KubeloopModel(model.name, engine=engine))
    rest = RESTServer(FASTAPI_APP_IMPORT_STRING, server.dataplane, server.model_repository_extension,
                      config.port, workers=1, grace_period=10, event_loop="uvloop")
    app: ASGIApp = kserve.model_server.app
    if fast_path:
        # Outermost, so predict requests skip KServe's timing middleware and FastAPI routing too.
        app = PredictMiddleware(app, engine=engine, body_timeout=config.limits.body_timeout)
    rest.config.app = RepositoryGuard(app)
    apply_limits(rest.config, config.limits)
    rest.config.proxy_headers = False
    quiet_request_logs()
    try:
        rest.run(sockets=[sock])
    finally:
        if engine.logger is not None:
            engine.logger.close()


def quiet_request_logs() -> None:
    """No per-request access or timing log lines: at thousands of requests/s they cost more than predict."""
    for name in ("uvicorn.access", "kserve.trace"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = False
        logger.setLevel(logging.WARNING)


def serve(config: RuntimeConfig, *, fast_path: bool = True) -> None:
    """Load, bind, and run `config.workers` workers; SIGTERM stops them all after in-flight requests."""
    started = time.monotonic()
    print(f"kubeloop: loading {config.model} {config.ref} from the registry", file=sys.stderr, flush=True)
    model = load_model(config)
    print(f"kubeloop: loaded version {model.version} in {time.monotonic() - started:.1f}s; "
          f"{config.workers} worker(s) on {config.host}:{config.port}", file=sys.stderr, flush=True)
    sock = bind(config.host, config.port)
    if config.workers == 1:
        run_worker(config, model, sock, fast_path=fast_path)
        return
    metrics_dir = Path(tempfile.mkdtemp(prefix="kubeloop-metrics-"))
    enable_multiprocess(metrics_dir)
    try:
        run_workers(config, model, sock, fast_path=fast_path)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


# Longer than the workers' own grace period (10 s) for in-flight requests.
STOP_GRACE_SECONDS = 15.0


def run_workers(config: RuntimeConfig, model: LoadedModel, sock: socket.socket, *, fast_path: bool) -> None:
    """Fork the workers and wait for them; SIGTERM is passed on, and one dying takes the others down.

    A server missing a worker would answer at reduced capacity with nobody told; exiting lets the
    supervisor (the local process record, or the pod's restart policy) see it and start a whole one.
    """
    from prometheus_client import multiprocess

    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=run_worker, args=(config, model, sock), kwargs={"fast_path": fast_path})
               for _ in range(config.workers)]
    for worker in workers:
        worker.start()
    stopping = lost = False
    kill_at = 0.0

    def forward(signum: int, _frame: Any) -> None:
        nonlocal stopping, kill_at
        stopping = True
        kill_at = kill_at or time.monotonic() + STOP_GRACE_SECONDS
        for worker in workers:
            if worker.is_alive() and worker.pid is not None:
                os.kill(worker.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    while True:
        # One snapshot per turn: deciding on a second look could miss a worker reaped in between.
        exited = {worker.pid for worker in workers if worker.exitcode is not None}
        for pid in exited:  # idempotent: it removes the dead worker's live-gauge files
            multiprocess.mark_process_dead(pid)
        alive = [worker for worker in workers if worker.pid not in exited]
        if not alive:
            break
        if exited and not stopping:
            print("kubeloop: a worker exited; stopping the others", file=sys.stderr, flush=True)
            lost = True
            forward(signal.SIGTERM, None)
        if stopping and time.monotonic() > kill_at:
            print(f"kubeloop: workers still running {STOP_GRACE_SECONDS:.0f}s after SIGTERM; killing them",
                  file=sys.stderr, flush=True)
            for worker in alive:
                worker.kill()
            kill_at = float("inf")
        multiprocessing.connection.wait([worker.sentinel for worker in alive], timeout=1.0)
    if lost:
        raise SystemExit(1)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="kubeloop-kserve", description=__doc__.splitlines()[0])
    parser.add_argument("--deployment", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--ref", default="champion", help="version number, alias or models:/ URI")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--max-batch-rows", type=int, default=64)
    parser.add_argument("--log-sink-url", default=None, help="CloudEvents collector for prediction logs")
    parser.add_argument("--no-log-to-store", action="store_true",
                        help="do not write prediction logs under KUBELOOP_HOME (in a cluster, KServe's "
                             "request logger sends them to the collector)")
    parser.add_argument("--no-fast-path", action="store_true", help="predict through KServe's FastAPI routes")
    parser.add_argument("--labeling", default="", help="the deployment's labeling policy as JSON")
    HttpLimits.add_arguments(parser)
    args = parser.parse_args(argv)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1` prints where it is stuck
    try:
        limits = HttpLimits.from_env(SERVER_PREFIX).with_arguments(args)
    except ValueError as error:
        raise SystemExit(f"kubeloop-kserve: {error}") from None
    config = RuntimeConfig(deployment=args.deployment, model=args.model, ref=args.ref, host=args.host,
                           port=args.port, workers=args.workers, max_batch_rows=args.max_batch_rows,
                           log_sink_url=args.log_sink_url, log_to_store=not args.no_log_to_store,
                           labeling=args.labeling, limits=limits)
    serve(config, fast_path=not args.no_fast_path)
