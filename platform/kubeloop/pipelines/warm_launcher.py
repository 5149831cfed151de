"""The `python` a warm local run gives kfp.local: it hands kfp's task executor (`-m kfp.dsl.executor_main`)
and the runner's report to the warm interpreter, and execs Python itself for anything else (`-m pip`...).

    warm_launcher.py REAL_PYTHON [python arguments...]

Run as `python -S` with the standard library only, so it starts in milliseconds. The task's
arguments, environment and working folder go over the run's Unix socket with its standard streams
(SCM_RIGHTS); the warm side answers `S` once the task has started, then its exit status. When there
is no socket, nobody answers, or the side ends before `S` (so the task did not start), the same
command runs in a fresh interpreter instead: the task runs once either way.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import sys

SOCKET_ENV = "KUBELOOP_WARM_SOCKET"
STARTED = b"S"
STATUS = struct.Struct("!i")  # the task's exit status: a code, or minus the signal that ended it
LENGTH = struct.Struct("!I")
# Only these start warm: a task's own `pip install` or script must see a fresh interpreter.
WARM_MODULES = ("kfp.dsl.executor_main", "kubeloop.pipelines.local")


def main(argv: list[str]) -> None:
    """Run the task warm when the warm interpreter takes it, else exec a fresh one."""
    python, args = argv[0], argv[1:]
    env = dict(os.environ)
    path = env.pop(SOCKET_ENV, "")
    if path and len(args) >= 2 and args[0] == "-m" and args[1] in WARM_MODULES:
        status = run_warm(path, module=args[1], argv=args[2:], env=env)
        if status is not None:
            exit_like(status)
    os.execve(python, [python, *args], env)


def run_warm(path: str, *, module: str, argv: list[str], env: dict[str, str]) -> int | None:
    """The task's exit status from the warm interpreter, or None when it did not start the task."""
    request = json.dumps({"module": module, "argv": argv, "env": env, "cwd": os.getcwd()}).encode()
    try:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(path)
        socket.send_fds(conn, [LENGTH.pack(len(request))], [0, 1, 2])
        conn.sendall(request)
        if _read(conn, 1) != STARTED:
            return None
    except OSError:
        return None
    answer = _read(conn, STATUS.size)
    if len(answer) != STATUS.size:
        print("kubeloop warm task starter: the task's watcher ended without its status", file=sys.stderr)
        return 1
    return int(STATUS.unpack(answer)[0])


def exit_like(status: int) -> None:
    """End this process as the task ended: with its code, or by the signal that ended it."""
    if status < 0:
        signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
    sys.exit(status)


def _read(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


if __name__ == "__main__":
    main(sys.argv[1:])
