"""Starting, stopping and reporting the supervisor process of a KUBELOOP_HOME (one per home).

It records itself in `<state_dir>/serving/supervisor.json` once its metrics endpoint is up; a second
one started by accident sees the record name another process and leaves.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from kubeloop.errors import BackendUnavailable
from kubeloop.local.identity import adopt
from kubeloop.local.records import ProcessRecord, load_record, read_record, records_lock, serving_dir
from kubeloop.local.restarts import load_log, log_path, summary
from kubeloop.settings import HOME_ENV, TRACKING_ENV, Settings

START_TIMEOUT_S = 60.0


def record_path(settings: Settings) -> Path:
    """Where the supervisor records itself."""
    return serving_dir(settings) / "supervisor.json"


def supervisor_record(settings: Settings) -> ProcessRecord | None:
    """The running supervisor's record, or None."""
    return read_record(record_path(settings))


def ensure_supervisor(settings: Settings, *, timeout: float = START_TIMEOUT_S) -> ProcessRecord:
    """The running supervisor, or a new one once it has recorded itself."""
    with records_lock(settings, "supervisor"):
        running = supervisor_record(settings)
        if running is not None:
            return running
        log_file = settings.home / "logs" / "supervisor.log"
        log_file.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, HOME_ENV: str(settings.home), TRACKING_ENV: settings.tracking_uri}
        with log_file.open("ab") as log:
            process = adopt(subprocess.Popen([sys.executable, "-m", "kubeloop.local.supervisor"], env=env,
                                             stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                             start_new_session=True))
        return _wait_recorded(settings, process, timeout=timeout, log_file=log_file)


def _wait_recorded(settings: Settings, process: subprocess.Popen[bytes], *, timeout: float,
                   log_file: Path) -> ProcessRecord:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = load_record(record_path(settings))
        if record is not None and record.pid == process.pid:
            return record
        if process.poll() is not None:
            raise BackendUnavailable(f"the supervisor exited with code {process.returncode}; see {log_file}")
        time.sleep(0.1)
    process.terminate()
    raise BackendUnavailable(f"the supervisor did not start within {timeout:.0f}s; see {log_file}")


def stop_supervisor(settings: Settings) -> ProcessRecord | None:
    """Stop the supervisor (first, so it restarts nothing that is being stopped); its record or None."""
    from kubeloop.local.processes import stop

    with records_lock(settings, "supervisor"):
        record = load_record(record_path(settings))
        record_path(settings).unlink(missing_ok=True)
    if record is None or not record.alive():
        return None
    stop(record)
    return record


def supervisor_status(settings: Settings) -> tuple[str, Any]:
    """`kubeloop status`'s section: whether it runs, its metrics endpoint, and every restart it made."""
    record = supervisor_record(settings)
    restarts = summary(load_log(log_path(settings)))
    if record is None:
        return "supervisor", {"running": False, "restarts": restarts}
    return "supervisor", {"running": True, "pid": record.pid, "metrics": f"{record.url}/metrics",
                          "restarts": restarts}
