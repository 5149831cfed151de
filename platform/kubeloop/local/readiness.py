"""Waiting for a started server to answer, and stopping one that never does, with all it forked."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from kubeloop.errors import BackendUnavailable


def wait_ready(url: str, process: subprocess.Popen[bytes], *, timeout: float,
               log_file: Path | None = None) -> None:
    """Poll `url` until it answers 200; BackendUnavailable with the log's tail if the process dies first.

    On a timeout the process is asked for a stack dump first (our servers register SIGUSR1 with
    faulthandler), so the error says where it was stuck rather than only that it was.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BackendUnavailable(f"server exited with code {process.returncode}: {_tail(log_file, 3)}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGUSR1)
        time.sleep(1.0)
    _stop_unready(process)
    raise BackendUnavailable(
        f"server at {url} was not ready within {timeout:.0f}s (log: {log_file or '-'}): {_tail(log_file, 12)}"
    )


def _stop_unready(process: subprocess.Popen[bytes], *, grace: float = 5.0) -> None:
    """Stop a server that never became ready with its whole group: workers it forked must not outlive it
    (nothing records them once the start has failed). The leader is reaped only after the group's
    SIGKILL: until then its pid, and so the group's id, cannot pass to another process."""
    try:
        leads = os.getpgid(process.pid) == process.pid
    except ProcessLookupError:
        leads = False
    _signal(process, signal.SIGTERM, group=leads)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and not _exited(process.pid):
        time.sleep(0.05)
    _signal(process, signal.SIGKILL, group=leads)  # whatever of the group is still there
    process.wait()


def _signal(process: subprocess.Popen[bytes], signum: int, *, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError):
        if group:
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)


def _exited(pid: int) -> bool:
    """True once our child has exited (it stays unreaped)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _tail(log_file: Path | None, lines: int) -> str:
    if log_file is None or not log_file.exists():
        return "no log"
    tail = log_file.read_text(errors="replace").strip().splitlines()[-lines:]
    return " | ".join(tail) if tail else "the log is empty"
