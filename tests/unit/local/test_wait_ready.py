"""wait_ready: a server that never becomes ready is reported with where it was stuck."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from kubeloop.errors import BackendUnavailable
from kubeloop.local.processes import free_port, wait_ready

# A stand-in for a server stuck while loading: it registers the stack dump our servers register.
STUCK = """
import faulthandler, signal, time
faulthandler.register(signal.SIGUSR1, all_threads=True)
print("loading the model", flush=True)
def load_forever():
    time.sleep(60)
load_forever()
"""


def _spawn(code: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-c", code], stdout=out, stderr=subprocess.STDOUT)


def test_a_stuck_server_is_stopped_and_its_stack_is_in_the_error(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    process = _spawn(STUCK, log)

    with pytest.raises(BackendUnavailable, match="not ready within 2s") as raised:
        wait_ready(f"http://127.0.0.1:{free_port()}/ready", process, timeout=2, log_file=log)

    assert "load_forever" in str(raised.value), str(raised.value)
    assert process.wait(timeout=10) != 0


def test_a_server_that_exits_is_reported_with_its_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    process = _spawn("print('port 1 is taken'); raise SystemExit(3)", log)

    with pytest.raises(BackendUnavailable, match="exited with code 3: port 1 is taken"):
        wait_ready(f"http://127.0.0.1:{free_port()}/ready", process, timeout=30, log_file=log)


# A stand-in for a server that forked a worker and then hangs: both lead no group but the server's own.
FORKS_AND_HANGS = """
import os, sys, time
worker = os.fork()
if worker == 0:
    time.sleep(60)
    os._exit(0)
print(worker, flush=True)
time.sleep(60)
"""


def test_a_server_that_never_gets_ready_is_stopped_with_the_workers_it_forked(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-c", FORKS_AND_HANGS], stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    with pytest.raises(BackendUnavailable, match="not ready within 2s"):
        wait_ready(f"http://127.0.0.1:{free_port()}/ready", process, timeout=2, log_file=log)
    worker = int(log.read_text().split()[0])
    assert process.poll() is not None
    assert _gone_within(worker, seconds=5.0)


def _gone_within(pid: int, *, seconds: float) -> bool:
    """True when `pid` exits (or is left a zombie) within `seconds` (a signalled process takes a moment)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False
