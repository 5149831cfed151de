"""Records of the local processes kubeloop starts, kept as JSON under `<state_dir>/serving/`.

`gateway.json` is the one gateway of this KUBELOOP_HOME, `<deployment>/v<version>.json` each model
server, `supervisor.json` the supervisor. A record is what should run; the process is what does: a
record whose process is gone (or whose pid now belongs to another process) is a process that died,
and only its owner's stop removes the record. Every change of a deployment's records happens under
that deployment's lock, so a supervisor restarting a server and a user stopping it never cross.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from kubeloop.local.identity import ProcessIdentity, identify, running
from kubeloop.settings import Settings

GATEWAY_LOCK = "gateway"


@dataclass(frozen=True, kw_only=True)
class ProcessRecord:
    """One local process: what it serves, where, and which process it is (pid and start time)."""

    kind: str  # "gateway", "kserve", "bentoml", "supervisor" or "rollout-controller"
    pid: int
    port: int
    deployment: str = ""
    model: str = ""
    version: str = ""
    log_file: str = ""
    started_at: float = 0.0
    # None: the process holding `pid` now (a record made at start); 0.0: unknown (never signalled).
    create_time: float | None = None

    def __post_init__(self) -> None:
        if self.create_time is None:
            found = identify(self.pid)
            object.__setattr__(self, "create_time", found.create_time if found else 0.0)

    @property
    def url(self) -> str:
        """Base URL on loopback."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def identity(self) -> ProcessIdentity:
        """The recorded process: its pid and start time."""
        return ProcessIdentity(pid=self.pid, create_time=self.create_time or 0.0)

    def alive(self) -> bool:
        """True while the recorded process runs (a recycled pid is another process: False)."""
        return running(self.identity) is not None


def serving_dir(settings: Settings) -> Path:
    """Where process records live."""
    return settings.state_dir / "serving"


def server_path(settings: Settings, deployment: str, version: str) -> Path:
    """The record of one version's model server."""
    return serving_dir(settings) / deployment / f"v{version}.json"


def gateway_path(settings: Settings) -> Path:
    """The record of this home's gateway."""
    return serving_dir(settings) / "gateway.json"


def write_record(path: Path, record: ProcessRecord) -> None:
    """Write a record atomically (readers never see half of one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(asdict(record), indent=2))
    temporary.replace(path)


def load_record(path: Path) -> ProcessRecord | None:
    """The record at `path`, alive or not; None when there is none (or it cannot be read)."""
    try:
        data = json.loads(path.read_text())
        return ProcessRecord(**{**data, "create_time": float(data.get("create_time") or 0.0)})
    except (OSError, ValueError, TypeError):
        return None


def read_record(path: Path) -> ProcessRecord | None:
    """The record at `path` when its process is alive, else None."""
    record = load_record(path)
    return record if record is not None and record.alive() else None


def server_records(settings: Settings, deployment: str | None = None) -> list[ProcessRecord]:
    """Model-server records (live or not), optionally of one deployment."""
    pattern = f"{deployment}/v*.json" if deployment else "*/v*.json"
    paths = sorted(serving_dir(settings).glob(pattern))
    return [r for r in (load_record(p) for p in paths) if r is not None]


def gateway_record(settings: Settings) -> ProcessRecord | None:
    """The gateway's record when its process is alive."""
    return read_record(gateway_path(settings))


@contextmanager
def records_lock(settings: Settings, name: str) -> Iterator[None]:
    """Hold the lock of one deployment's records (or the gateway's, GATEWAY_LOCK)."""
    path = settings.state_dir / "locks" / f"serving-{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
