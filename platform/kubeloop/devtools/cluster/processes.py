"""Starting, watching and stopping the control plane's processes, each with its own log file.

Process ids go to `pids.json` in the state folder, so `cluster down` stops what `cluster up` started in
another shell. Processes a test session starts die with it (Linux parent-death signal), so an
interrupted pytest leaves nothing running.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from kubeloop.errors import KubeloopError

PR_SET_PDEATHSIG = 1
STOP_GRACE = 10.0  # seconds between SIGTERM and SIGKILL


class ClusterError(KubeloopError):
    """The test control plane did not start (the message names the process and ends with its log)."""


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the starting process exits."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(argv: list[str], *, log: Path, detach: bool,
          env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start one process, stdout and stderr to its log; `detach` lets it outlive this one."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=None if detach else _die_with_parent,
                                env=env)


def log_tail(log: Path, *, lines: int = 15) -> str:
    """The last lines of a log, for an error message."""
    if not log.is_file():
        return "(no log)"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def record(pids_file: Path, name: str, pid: int) -> None:
    """Add one process to the state folder's record."""
    pids = read_pids(pids_file)
    pids[name] = pid
    pids_file.write_text(json.dumps(pids, indent=2) + "\n")


def read_pids(pids_file: Path) -> dict[str, int]:
    """Process name -> pid, as recorded (empty when nothing was started)."""
    if not pids_file.is_file():
        return {}
    pids: dict[str, int] = json.loads(pids_file.read_text())
    return pids


def _alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie of ours."""
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
        if finished:
            return False
    except ChildProcessError:
        pass  # not our child (started by `cluster up` in another shell)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop_together(pids: list[int]) -> None:
    """SIGTERM the processes, wait up to STOP_GRACE for them to exit, SIGKILL those left."""
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            _alive(pid)  # reap it


def stop_all(pids_file: Path, *, last: tuple[str, ...] = ()) -> list[str]:
    """Stop every recorded process; the names in `last` one at a time after the others, in that order
    (clients before the servers they talk to, so none waits on a server already gone)."""
    running = {name: pid for name, pid in read_pids(pids_file).items() if _alive(pid)}
    tiers = [[pid for name, pid in running.items() if name not in last],
             *([running[name]] for name in last if name in running)]
    for tier in tiers:
        _stop_together(tier)
    pids_file.unlink(missing_ok=True)
    return list(running)


def wait_until(check: Callable[[], bool], *, what: str, timeout: float, interval: float = 0.1,
               process: subprocess.Popen[bytes] | None = None, log: Path | None = None) -> None:
    """Poll `check` until it holds; raise ClusterError with the log's tail on timeout or process exit."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise ClusterError(f"{what}: the process exited with {process.returncode}; "
                               f"its log ({log}) ends with:\n{log_tail(log) if log else ''}")
        if check():
            return
        if time.monotonic() > deadline:
            tail = f"; its log ({log}) ends with:\n{log_tail(log)}" if log else ""
            raise ClusterError(f"{what}: not ready after {timeout:.0f} s{tail}")
        time.sleep(interval)
