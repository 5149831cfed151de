"""The warm interpreter of a local run (`kubeloop.pipelines.warm`): it imports what kubeloop's components
use, then forks a watcher and the task for each request the launcher (`warm_launcher.py`) sends.

    python -m kubeloop.pipelines.warm_server SOCKET CONTROL_FD

It binds SOCKET, detaches (so the process that started it need not reap it) and serves until the
write ends of CONTROL_FD close: the run has ended, or its pre-flight failed. A request whose PYTHON*
variables differ from this interpreter's is refused (the launcher then runs it fresh).
"""

from __future__ import annotations

import atexit
import importlib
import json
import logging
import os
import runpy
import selectors
import shutil
import signal
import socket
import struct
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubeloop.pipelines.base import IN_WARM_TASK_ENV
from kubeloop.pipelines.warm_launcher import LENGTH, STARTED, STATUS

# What kubeloop's components import at their point of use, in the order the built-in pipeline needs it;
# `module:function` also calls a function that fills a module's cache.
PRELOAD = (
    "kfp.dsl",
    "kfp.dsl.executor",
    "kubeloop.components.task",
    "pandas",
    "pyarrow.parquet",
    "kubeloop.training.steps",
    "kubeloop.training.data",
    "mlflow",
    "mlflow.tracking",
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
    "mlflow.sklearn",
    "mlflow.pyfunc",
    # MLflow's map of installed packages, built when a task logs its first model (about a second).
    "mlflow.utils.requirements_utils:_init_packages_to_modules_map",
    "IPython",  # MLflow's notebook probe imports it when a model is logged
    "git",  # and its git probe
    "skops.io",  # imports every scikit-learn estimator (its trusted types)
    "kubeloop.training.estimators",
    "kubeloop.training.tracking",
    "kubeloop.training.champion",
    "kubeloop.training.evaluation",
    "kubeloop.training.registration",
    "kubeloop.training.outcome",
    "kubeloop.drift.store",
    "skl2onnx",
    "onnxruntime",
    "kubeloop.serving.core.onnx_copy",
    "kubeloop.serving.core.onnx_model",
)
# kubeloop's components that need more than pandas, and the runner's report: one that arrives during
# the preload waits for it. Forked half-way, it imported the rest itself while the preload did the
# same, and took twice a fresh task's time under load (bench/bench_training.py); others start at once.
WAIT_FOR_PRELOAD = frozenset(
    {"train_sklearn", "evaluate_model", "quality_gate", "register_model", "start_rollout"}
)
_RECEIVE_TIMEOUT_S = 10.0
_ending: list[int] = []  # a forked task's exit status, once it has one


@dataclass(frozen=True)
class Task:
    """A task to run in this (forked) process: what the launcher sent and its standard streams."""

    module: str
    argv: list[str]
    env: dict[str, str]
    cwd: str
    streams: list[int]


class _Server:
    """The listening socket, the run's control pipe and the selector over both."""

    def __init__(self, socket_path: str, control: int) -> None:
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(socket_path)
        self.listener.listen(64)
        self.control = control
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ)
        self.selector.register(control, selectors.EVENT_READ)

    def requests(self, *, timeout: float | None) -> list[Request]:
        """The task requests that arrived (within `timeout`); ends this process when the run is over."""
        found = []
        for key, _ in self.selector.select(timeout):
            if key.fileobj == self.control:
                shutil.rmtree(Path(self.listener.getsockname()).parent, ignore_errors=True)
                os._exit(0)  # the run is over (or never started)
            conn, _ = self.listener.accept()
            conn.settimeout(_RECEIVE_TIMEOUT_S)
            try:
                found.append(Request(conn=conn, task=_receive(conn)))
            except (OSError, EOFError, ValueError, KeyError, TypeError, struct.error):  # it runs fresh
                conn.close()
        return found

    def start(self, request: Request) -> Task | None:
        """Fork the request's watcher, which forks its task; returns the task in the task's process."""
        sys.stdout.flush()
        sys.stderr.flush()
        if os.fork():
            request.conn.close()
            for fd in request.task.streams:
                os.close(fd)
            return None
        self.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        request.conn.settimeout(None)
        try:
            pid = os.fork()
        except OSError:  # the launcher sees no `S` and runs it fresh
            os._exit(1)
        if pid == 0:
            request.conn.close()
            return request.task
        try:
            _watch(request.conn, pid, request.task.streams)
        finally:
            os._exit(0)

    def close(self) -> None:
        """Release the server's descriptors (in a forked watcher)."""
        self.selector.close()
        self.listener.close()
        os.close(self.control)


@dataclass(frozen=True)
class Request:
    """A task received from a launcher, and the connection its watcher answers on."""

    conn: socket.socket
    task: Task

    def waits_for_preload(self) -> bool:
        """Whether it should wait for the preload when it arrives early (see WAIT_FOR_PRELOAD)."""
        argv = self.task.argv
        named = {
            value for flag, value in zip(argv, argv[1:], strict=False) if flag == "--function_to_execute"
        }
        return self.task.module == "kubeloop.pipelines.local" or bool(named & WAIT_FOR_PRELOAD)


def serve(server: _Server) -> Task:
    """Preload and start tasks; returns only in a forked task (the server ends when its control closes)."""
    atexit.register(_leave)  # registered first, so it runs last: after the task's own exit handlers
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the watchers
    started, waiting = time.perf_counter(), []
    for name in PRELOAD:
        arrived = server.requests(timeout=0)
        waiting += [request for request in arrived if request.waits_for_preload()]
        if task := _start_all(server, [request for request in arrived if not request.waits_for_preload()]):
            return task
        _preload(name)
    seconds = time.perf_counter() - started
    print(f"warm task starter: {len(PRELOAD)} modules preloaded in {seconds:.2f}s", flush=True)
    if task := _start_all(server, waiting):
        return task
    while True:
        if task := _start_all(server, server.requests(timeout=None)):
            return task


def _start_all(server: _Server, requests: list[Request]) -> Task | None:
    for request in requests:
        if task := server.start(request):
            return task
    return None


def _preload(name: str) -> None:
    module, _, function = name.partition(":")
    try:
        loaded = importlib.import_module(module)
        if function:
            getattr(loaded, function)()
    except Exception as error:  # noqa: BLE001 - an optional package: the task imports it (or fails) itself
        print(f"warm task starter: {name} not preloaded ({type(error).__name__}: {error})", flush=True)


def _receive(conn: socket.socket) -> Task:
    uid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[1]
    if uid != os.getuid():
        raise PermissionError(f"a task request from user {uid}")
    header, streams, _, _ = socket.recv_fds(conn, LENGTH.size, 3)
    try:
        request = _read_request(conn, header)
    except BaseException:
        for fd in streams:
            os.close(fd)
        raise
    return Task(streams=list(streams), **request)


def _read_request(conn: socket.socket, header: bytes) -> dict[str, Any]:
    (size,) = LENGTH.unpack(header)
    body = b""
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            raise EOFError("the launcher went away")
        body += chunk
    request: dict[str, Any] = json.loads(body)
    if _interpreter_settings(request["env"]) != _interpreter_settings(os.environ):
        raise ValueError("the task sets other PYTHON* variables than this interpreter started with")
    return request


def _interpreter_settings(env: Mapping[str, str]) -> dict[str, str]:
    """The PYTHON* variables, which change how an interpreter starts: a task that sets others runs fresh."""
    return {key: value for key, value in env.items() if key.startswith("PYTHON")}


def _watch(conn: socket.socket, pid: int, streams: list[int]) -> None:
    """Tell the launcher the task started and how it ended; end the task if the launcher goes away."""
    for fd in streams:
        os.close(fd)  # only the task holds the streams, so the reader sees their end with the task's
    conn.sendall(STARTED)
    watching = selectors.DefaultSelector()
    watching.register(os.pidfd_open(pid), selectors.EVENT_READ, "task")
    watching.register(conn, selectors.EVENT_READ, "launcher")
    if any(key.data == "launcher" for key, _ in watching.select()) and not _ended(pid):
        os.kill(pid, signal.SIGTERM)
    _, status = os.waitpid(pid, 0)
    conn.sendall(STATUS.pack(os.waitstatus_to_exitcode(status)))


def _ended(pid: int) -> bool:
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def run_task(task: Task) -> int:
    """Become the task (streams, folder, environment, argv) and run its module as `python -m` does."""
    for target, fd in enumerate(task.streams):
        os.dup2(fd, target)
        if fd != target:
            os.close(fd)
    os.chdir(task.cwd)
    os.environ.clear()
    os.environ.update(task.env, **{IN_WARM_TASK_ENV: "1"})
    sys.argv = ["-m", *task.argv]
    sys.path[0] = task.cwd
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()  # a fresh interpreter's global generator is seeded anew too
    try:
        runpy.run_module(task.module, run_name="__main__", alter_sys=True)
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException:  # noqa: BLE001 - reported as an uncaught error, like a fresh interpreter does
        sys.excepthook(*sys.exc_info())
        return 1
    return 0


def _leave() -> None:
    """The last exit handler of a forked task: end with its status, skipping the teardown."""
    if _ending:
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os._exit(_ending[0])


def main(argv: list[str]) -> None:
    """Bind SOCKET, detach, serve until CONTROL_FD's write ends close; in a forked task, run it."""
    server = _Server(argv[0], int(argv[1]))
    sys.stdout.flush()
    if os.fork():
        os._exit(0)  # the starter waits for this exit only: the socket is there, nobody has to reap us
    task = serve(server)
    _ending.append(run_task(task))
    sys.exit(_ending[0])


if __name__ == "__main__":
    main(sys.argv[1:])
