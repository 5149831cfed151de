"""`kubeloop up`/`down`/`status`: the local MLflow server process and the machine-readable state.

`up` starts a real `mlflow server` on loopback over the same store the CLI uses (the SQLite file and
artifact folder under KUBELOOP_HOME), records it in `<state_dir>/mlflow-server.json`, and `down`
stops exactly that process group. `status()` gathers sections from STATUS_SECTIONS, so other parts
add theirs (deployments, rollouts) by appending a dotted "module:function" taking Settings.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kubeloop.errors import BackendUnavailable, KubeloopError
from kubeloop.local.identity import ProcessIdentity, adopt, identify, running, terminate
from kubeloop.local.processes import free_port
from kubeloop.settings import Settings

STATUS_SECTIONS: tuple[str, ...] = (
    "kubeloop.platform_services:registry_status",
    "kubeloop.platform_services:server_status",
    "kubeloop.local.overview:deployments_status",
    "kubeloop.local.supervisor_process:supervisor_status",
)
_RECORD = "mlflow-server.json"
_START_TIMEOUT_S = 240.0  # generous: a loaded machine takes minutes to import the server


@dataclass(frozen=True, kw_only=True)
class ServerRecord:
    """The MLflow server `up` started: its process (group) id, address and log file."""

    pid: int
    port: int
    url: str
    backend_store_uri: str
    log: str
    # The process's start time: a record whose pid another process holds now is stale.
    create_time: float = 0.0

    @property
    def identity(self) -> ProcessIdentity:
        """The recorded process: its pid and start time."""
        return ProcessIdentity(pid=self.pid, create_time=self.create_time)


def record_path(settings: Settings) -> Path:
    """Where `up` records the server it started."""
    return settings.state_dir / _RECORD


def running_server(settings: Settings) -> ServerRecord | None:
    """The recorded server if its process is still alive, else None (a stale record is removed)."""
    path = record_path(settings)
    if not path.is_file():
        return None
    record = ServerRecord(**json.loads(path.read_text()))
    if running(record.identity) is not None:
        return record
    path.unlink(missing_ok=True)
    return None


def up(settings: Settings, *, port: int = 0) -> ServerRecord:
    """Start `mlflow server` on 127.0.0.1 over the local store (idempotent) and wait until it answers."""
    existing = running_server(settings)
    if existing is not None:
        return existing
    if not settings.is_local_store:
        raise KubeloopError(
            f"the tracking URI is {settings.tracking_uri}: `up` serves the local SQLite store only; "
            "unset KUBELOOP_TRACKING_URI to use it"
        )
    settings.ensure_dirs()
    chosen = port or free_port()
    log = settings.state_dir / "mlflow-server.log"
    command = [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(chosen),
        "--backend-store-uri", settings.tracking_uri,
        "--default-artifact-root", settings.artifacts_dir.as_uri(), "--workers", "1",
    ]  # fmt: skip
    # The UI needs no server-side job runner: it would add worker processes that import MLflow and
    # poll the same SQLite file every minute, competing with the servers and controllers for it.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with log.open("ab") as sink:
        process = adopt(subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            env=env,
        ))
    found = identify(process.pid)
    record = ServerRecord(
        pid=process.pid, port=chosen, url=f"http://127.0.0.1:{chosen}",
        backend_store_uri=settings.tracking_uri, log=str(log),
        create_time=found.create_time if found else 0.0,
    )  # fmt: skip
    try:
        _wait_healthy(record, process)
    except BackendUnavailable:
        terminate(record.identity, timeout=10.0)
        raise
    record_path(settings).write_text(json.dumps(asdict(record), indent=2))
    return record


def down(settings: Settings) -> ServerRecord | None:
    """Stop the server `up` started (its whole process group); None when nothing was running."""
    record = running_server(settings)
    if record is None:
        return None
    record_path(settings).unlink(missing_ok=True)
    terminate(record.identity, timeout=10.0)
    return record


def status(settings: Settings) -> dict[str, Any]:
    """Machine-readable state: home, tracking URI and every registered section."""
    state: dict[str, Any] = {"home": str(settings.home), "tracking_uri": settings.tracking_uri}
    for dotted in STATUS_SECTIONS:
        module, _, function = dotted.partition(":")
        key, value = getattr(importlib.import_module(module), function)(settings)
        state[key] = value
    return state


def registry_status(settings: Settings) -> tuple[str, Any]:
    """Registered models with their aliases and newest version (or the error reaching the registry)."""
    from kubeloop.registry.mlflow_registry import MlflowRegistry

    try:
        registry = MlflowRegistry.from_settings(settings)
        models = registry.list_models()
    except KubeloopError as error:
        return "models", {"error": str(error)}
    return "models", [
        {"name": m.name, "aliases": dict(m.aliases), "latest_version": m.latest_version} for m in models
    ]


def server_status(settings: Settings) -> tuple[str, Any]:
    """The MLflow UI server started by `up`, if it is running."""
    record = running_server(settings)
    return "mlflow_server", {"running": False} if record is None else {"running": True, **asdict(record)}


def _wait_healthy(record: ServerRecord, process: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BackendUnavailable(f"mlflow server exited with code {process.returncode}; see {record.log}")
        try:
            if httpx.get(f"{record.url}/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise BackendUnavailable(f"mlflow server did not answer within {_START_TIMEOUT_S:.0f}s; see {record.log}")
