"""Starting, finding and stopping local model-server and gateway processes, recorded under state_dir.

Each process is recorded as JSON in `<state_dir>/serving/`: `gateway.json` for the one gateway of
this KUBELOOP_HOME and `<deployment>/v<version>.json` for each model server, so `kubeloop status`, the
gateway router and later commands find them; `<deployment>/deployment.yaml` keeps the deployed
ModelDeployment. A record whose process is gone counts as stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import yaml

from kubeloop.errors import BackendUnavailable, NotFoundError
from kubeloop.settings import Settings
from kubeloop.spec import LabelingSpec, ModelDeployment, load_deployment

RUNTIMES = ("kserve", "bentoml")


@dataclass(frozen=True, kw_only=True)
class ProcessRecord:
    """One local server process: what it serves and where."""

    kind: str  # "gateway", "kserve" or "bentoml"
    pid: int
    port: int
    deployment: str = ""
    model: str = ""
    version: str = ""
    log_file: str = ""
    started_at: float = 0.0

    @property
    def url(self) -> str:
        """Base URL on loopback."""
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        """True while the process exists."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def serving_dir(settings: Settings) -> Path:
    """Where process records live."""
    return settings.state_dir / "serving"


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write(path: Path, record: ProcessRecord) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(record), indent=2))


def _read(path: Path) -> ProcessRecord | None:
    try:
        return ProcessRecord(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def server_records(settings: Settings, deployment: str | None = None) -> list[ProcessRecord]:
    """Model-server records (live or not), optionally of one deployment."""
    root = serving_dir(settings)
    pattern = f"{deployment}/v*.json" if deployment else "*/v*.json"
    return [r for r in (_read(p) for p in sorted(root.glob(pattern))) if r is not None]


def gateway_record(settings: Settings) -> ProcessRecord | None:
    """The gateway's record when its process is alive."""
    record = _read(serving_dir(settings) / "gateway.json")
    return record if record is not None and record.alive() else None


def write_record(path: Path, record: ProcessRecord) -> None:
    """Record another kind of local process (a rollout controller) where its owner keeps such records."""
    _write(path, record)


def read_record(path: Path) -> ProcessRecord | None:
    """A record written by `write_record` when its process is alive, else None."""
    record = _read(path)
    return record if record is not None and record.alive() else None


def gateway_token(settings: Settings) -> str:
    """The admin token of this home's gateway, created (mode 600) on first use."""
    path = serving_dir(settings) / "gateway.token"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
    return path.read_text().strip()


def _spawn(command: list[str], *, env: dict[str, str], log_file: Path) -> subprocess.Popen[bytes]:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


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
    process.terminate()
    raise BackendUnavailable(
        f"server at {url} was not ready within {timeout:.0f}s (log: {log_file or '-'}): {_tail(log_file, 12)}"
    )


def _tail(log_file: Path | None, lines: int) -> str:
    if log_file is None or not log_file.exists():
        return "no log"
    tail = log_file.read_text(errors="replace").strip().splitlines()[-lines:]
    return " | ".join(tail) if tail else "the log is empty"


def start_gateway(settings: Settings, *, port: int | None = None, timeout: float = 30.0) -> ProcessRecord:
    """The running gateway, or a new one started on `port` (a free port when None)."""
    running = gateway_record(settings)
    if running is not None:
        return running
    root = serving_dir(settings)
    port = port or free_port()
    log_file = settings.home / "logs" / "gateway.log"
    env = {**os.environ, "KUBELOOP_GATEWAY_TOKEN": gateway_token(settings)}
    command = [sys.executable, "-m", "kubeloop.serving.gateway", "--port", str(port),
               "--routes-file", str(root / "gateway-routes.json"), "--labels-dir", str(settings.logs_dir)]
    process = _spawn(command, env=env, log_file=log_file)
    wait_ready(f"http://127.0.0.1:{port}/healthz", process, timeout=timeout, log_file=log_file)
    record = ProcessRecord(kind="gateway", pid=process.pid, port=port, log_file=str(log_file),
                           started_at=time.time())
    _write(root / "gateway.json", record)
    return record


def start_server(settings: Settings, *, deployment: str, model: str, version: str, runtime: str = "kserve",
                 port: int | None = None, workers: int = 1, max_batch_rows: int = 64,
                 timeout: float = 120.0, labeling: LabelingSpec | None = None) -> ProcessRecord:
    """Start a model server for one version (or return the live one) and record it.

    `labeling` defaults to the policy of the deployment as last deployed (none before the first deploy).
    """
    from kubeloop.labels.serving import policy_json
    from kubeloop.serving.core.runtime import RuntimeConfig

    if runtime not in RUNTIMES:
        raise NotFoundError(f"unknown runtime {runtime!r}; expected one of {list(RUNTIMES)}")
    path = serving_dir(settings) / deployment / f"v{version}.json"
    existing = _read(path)
    if existing is not None and existing.alive():
        return existing
    port = port or free_port()
    if labeling is None:
        labeling = _deployed_labeling(settings, deployment)
    config = RuntimeConfig(deployment=deployment, model=model, ref=str(version), port=port, workers=workers,
                           max_batch_rows=max_batch_rows, labeling=policy_json(labeling))
    log_file = settings.home / "logs" / f"{deployment}-v{version}.log"
    env = {**os.environ, **config.to_env(), "KUBELOOP_HOME": str(settings.home),
           "KUBELOOP_TRACKING_URI": settings.tracking_uri}
    if runtime == "kserve":
        command = [sys.executable, "-m", "kubeloop.serving.kserve_runtime", "--deployment", deployment,
                   "--model", model, "--ref", str(version), "--port", str(port), "--workers", str(workers),
                   "--max-batch-rows", str(max_batch_rows), "--labeling", config.labeling]
    else:
        command = [sys.executable, "-m", "bentoml", "serve",
                   "kubeloop.serving.bentoml_runtime.service:KubeloopService",
                   "--host", "127.0.0.1", "--port", str(port)]
    process = _spawn(command, env=env, log_file=log_file)
    wait_ready(f"http://127.0.0.1:{port}/v2/health/ready", process, timeout=timeout, log_file=log_file)
    record = ProcessRecord(kind=runtime, pid=process.pid, port=port, deployment=deployment, model=model,
                           version=str(version), log_file=str(log_file), started_at=time.time())
    _write(path, record)
    return record


def stop(record: ProcessRecord, *, timeout: float = 15.0) -> None:
    """SIGTERM the process group (the server and its workers), SIGKILL after `timeout`."""
    if not record.alive():
        return
    try:
        os.killpg(record.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            finished, _ = os.waitpid(record.pid, os.WNOHANG)
        except ChildProcessError:
            finished = 0 if record.alive() else record.pid
        if finished:
            return
        time.sleep(0.1)
    os.killpg(record.pid, signal.SIGKILL)


def stop_deployment(settings: Settings, deployment: str) -> list[ProcessRecord]:
    """Stop every model server of a deployment and forget them; returns what was stopped."""
    records = server_records(settings, deployment)
    for record in records:
        stop(record)
        (serving_dir(settings) / deployment / f"v{record.version}.json").unlink(missing_ok=True)
    return records


def stop_gateway(settings: Settings) -> None:
    """Stop this home's gateway if it runs."""
    record = gateway_record(settings)
    if record is not None:
        stop(record)
    (serving_dir(settings) / "gateway.json").unlink(missing_ok=True)


def save_deployment(settings: Settings, deployment: ModelDeployment) -> Path:
    """Keep the deployed ModelDeployment so later commands (rollouts, drift) can find it by name."""
    path = serving_dir(settings) / deployment.name / "deployment.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(deployment.to_manifest(), sort_keys=False))
    return path


def load_deployed(settings: Settings, name: str) -> ModelDeployment:
    """The ModelDeployment last deployed under `name`; NotFoundError when there is none."""
    path = serving_dir(settings) / name / "deployment.yaml"
    if not path.exists():
        raise NotFoundError(f"no deployment {name!r}; deploy it with `kubeloop deploy <file>`")
    return load_deployment(path)


def _deployed_labeling(settings: Settings, deployment: str) -> LabelingSpec:
    try:
        return load_deployed(settings, deployment).spec.labeling
    except NotFoundError:
        return LabelingSpec()


def deployed_names(settings: Settings) -> list[str]:
    """Names of every deployment deployed in this home."""
    return sorted(p.parent.name for p in serving_dir(settings).glob("*/deployment.yaml"))
