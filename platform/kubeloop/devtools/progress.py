"""Long setup steps made visible: a `go build` reporting how many packages it has compiled, and a lock
that says whom it waits for."""

from __future__ import annotations

import fcntl
import os
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from kubeloop.errors import KubeloopError

Log = Callable[[str], None]
REPORT_EVERY = 30.0  # seconds between two progress lines


def _elapsed(seconds: float) -> str:
    """12m05s."""
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def run_go_build(cmd: list[str], *, cwd: Path, env: dict[str, str], label: str, log: Log) -> None:
    """Run `go build -v`, logging the count of packages built every REPORT_EVERY seconds; raise on failure."""
    started = time.monotonic()
    log(f"  {label}: go build started")
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stderr is not None
    tail: deque[str] = deque(maxlen=20)
    count = [0]
    done = threading.Event()

    def report() -> None:
        while not done.wait(REPORT_EVERY):
            log(f"  {label}: {count[0]} packages compiled, {_elapsed(time.monotonic() - started)}")

    reporter = threading.Thread(target=report, daemon=True)
    reporter.start()
    for line in proc.stderr:
        count[0] += 1  # -v prints each package it compiles (none from the cache); errors land in the tail
        tail.append(line.rstrip())
    done.set()
    if proc.wait() != 0:
        raise KubeloopError(f"{label}: `{' '.join(cmd[:3])} ...` failed in {cwd}:\n" + "\n".join(tail))
    log(f"  {label}: built in {_elapsed(time.monotonic() - started)} ({count[0]} packages)")


@contextmanager
def file_lock(path: Path, *, log: Log) -> Iterator[None]:
    """Hold an exclusive lock on `path`, saying so when another process holds it first."""
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another build holding {path} (pid {Path(path).read_text().strip() or '?'})")
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
