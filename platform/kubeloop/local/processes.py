"""Starting and stopping local model-server and gateway processes, and the deployments they serve.

Processes are recorded by `kubeloop.local.records` (pid and start time, under `<state_dir>/serving/`);
`<deployment>/deployment.yaml` keeps the deployed ModelDeployment. A record is removed before its
process is stopped, so the supervisor never takes a stop for a crash; starting and stopping hold the
deployment's lock, so a restart and a stop never cross.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from kubeloop.errors import BackendUnavailable, NotFoundError, SpecError
from kubeloop.local import identity
from kubeloop.local.readiness import wait_ready
from kubeloop.local.records import (
    GATEWAY_LOCK,
    ProcessRecord,
    gateway_path,
    gateway_record,
    load_record,
    read_record,
    records_lock,
    server_path,
    server_records,
    serving_dir,
    write_record,
)
from kubeloop.settings import Settings
from kubeloop.spec import LabelingSpec, ModelDeployment, load_deployment

if TYPE_CHECKING:
    from kubeloop.serving.core.runtime import RuntimeConfig

RUNTIMES = ("kserve", "bentoml")
__all__ = [
    "RUNTIMES", "ProcessRecord", "deployed_names", "free_port", "gateway_path", "gateway_record",
    "gateway_token", "launch_gateway", "launch_server", "load_deployed", "read_record", "save_deployment",
    "server_records", "serving_dir", "start_gateway", "start_server", "stop", "stop_deployment",
    "stop_gateway", "stop_server", "wait_ready", "write_record",
]


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
        return identity.adopt(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                               stdin=subprocess.DEVNULL, start_new_session=True))


def start_gateway(settings: Settings, *, port: int | None = None, timeout: float = 30.0) -> ProcessRecord:
    """The running gateway, or a new one (on `port`, else the dead one's port, else a free one).

    A new gateway loads its routes file, and its routes are then re-resolved against the servers
    running now: a server restarted since the file was written listens somewhere else.
    """
    from kubeloop.local.routes import reroute_all

    with records_lock(settings, GATEWAY_LOCK):
        recorded = load_record(gateway_path(settings))
        if recorded is not None and recorded.alive():
            return recorded
        record = launch_gateway(settings, port=port or (recorded.port if recorded else 0), timeout=timeout)
    reroute_all(settings)
    return record


def launch_gateway(settings: Settings, *, port: int = 0, timeout: float = 30.0) -> ProcessRecord:
    """Start a gateway process and record it (the caller holds the gateway's lock)."""
    port = port or free_port()
    log_file = settings.home / "logs" / "gateway.log"
    env = {**os.environ, "KUBELOOP_GATEWAY_TOKEN": gateway_token(settings)}
    command = [sys.executable, "-m", "kubeloop.serving.gateway", "--port", str(port),
               "--routes-file", str(serving_dir(settings) / "gateway-routes.json"),
               "--labels-dir", str(settings.logs_dir)]
    record = ProcessRecord(kind="gateway", pid=0, port=port, create_time=0.0)
    return _launch(command, env=env, log_file=log_file, ready_path="/healthz", timeout=timeout,
                   path=gateway_path(settings), record=record)


def start_server(settings: Settings, *, deployment: str, model: str, version: str, runtime: str = "kserve",
                 port: int | None = None, workers: int = 1, max_batch_rows: int = 64,
                 timeout: float = 120.0, labeling: LabelingSpec | None = None) -> ProcessRecord:
    """Start a model server for one version (or return the live one) and record it.

    `labeling` defaults to the policy of the deployment as last deployed (none before the first deploy).
    """
    if runtime not in RUNTIMES:
        raise NotFoundError(f"unknown runtime {runtime!r}; expected one of {list(RUNTIMES)}")
    with records_lock(settings, deployment):
        existing = load_record(server_path(settings, deployment, str(version)))
        if existing is not None and existing.alive():
            return existing
        return launch_server(settings, deployment=deployment, model=model, version=str(version),
                             runtime=runtime, port=port, workers=workers, max_batch_rows=max_batch_rows,
                             timeout=timeout, labeling=labeling)


def launch_server(settings: Settings, *, deployment: str, model: str, version: str, runtime: str,
                  port: int | None, workers: int, max_batch_rows: int, timeout: float,
                  labeling: LabelingSpec | None = None) -> ProcessRecord:
    """Start a model-server process and record it (the caller holds the deployment's lock)."""
    from kubeloop.labels.serving import policy_json
    from kubeloop.serving.core.runtime import RuntimeConfig, tunables_from_env

    port = port or free_port()
    if labeling is None:
        labeling = _deployed_labeling(settings, deployment)
    config = RuntimeConfig(
        deployment=deployment, model=model, ref=version, port=port, workers=workers,
        max_batch_rows=max_batch_rows, labeling=policy_json(labeling), **tunables_from_env(),
    )
    _check_recycling(runtime, config)
    log_file = settings.home / "logs" / f"{deployment}-v{version}.log"
    env = {**os.environ, **config.to_env(), "KUBELOOP_HOME": str(settings.home),
           "KUBELOOP_TRACKING_URI": settings.tracking_uri}
    if runtime == "kserve":
        command = [sys.executable, "-m", "kubeloop.serving.kserve_runtime", "--deployment", deployment,
                   "--model", model, "--ref", version, "--port", str(port), "--workers", str(workers),
                   "--max-batch-rows", str(max_batch_rows), "--labeling", config.labeling]
    else:
        command = [sys.executable, "-m", "bentoml", "serve",
                   "kubeloop.serving.bentoml_runtime.service:KubeloopService",
                   "--host", "127.0.0.1", "--port", str(port),
                   "--timeout-keep-alive", str(max(1, int(config.limits.idle_timeout)))]
    record = ProcessRecord(kind=runtime, pid=0, port=port, deployment=deployment, model=model,
                           version=version, create_time=0.0)
    return _launch(command, env=env, log_file=log_file, ready_path="/v2/health/ready", timeout=timeout,
                   path=server_path(settings, deployment, version), record=record)


def _check_recycling(runtime: str, config: RuntimeConfig) -> None:
    """Worker recycling is a BentoML runtime setting, and needs a second worker to serve meanwhile."""
    from kubeloop.serving.bentoml_runtime.recycling import RecyclePolicy

    policy = RecyclePolicy(max_requests=config.max_requests, max_rss_mb=config.max_rss_mb)
    if policy.enabled and runtime != "bentoml":
        raise SpecError("KUBELOOP_SERVE_MAX_REQUESTS / KUBELOOP_SERVE_MAX_RSS_MB recycle BentoML workers; "
                        f"the {runtime} runtime does not recycle its workers: unset them")
    try:
        policy.check(workers=config.workers)
    except ValueError as error:
        raise SpecError(str(error)) from None


def _launch(command: list[str], *, env: dict[str, str], log_file: Path, ready_path: str, timeout: float,
            path: Path, record: ProcessRecord) -> ProcessRecord:
    """Spawn, record at once (a stop meanwhile finds it), wait until ready; forget it if it never is."""
    process = _spawn(command, env=env, log_file=log_file)
    record = replace(record, pid=process.pid, log_file=str(log_file), started_at=time.time(),
                     create_time=None)
    write_record(path, record)
    try:
        wait_ready(f"{record.url}{ready_path}", process, timeout=timeout, log_file=log_file)
    except BackendUnavailable:
        path.unlink(missing_ok=True)
        raise
    return record


def stop(record: ProcessRecord, *, timeout: float = 15.0) -> None:
    """SIGTERM the recorded process group (the server and its workers), SIGKILL after `timeout`.

    Nothing is signalled unless the process under the recorded pid has the recorded start time.
    """
    identity.terminate(record.identity, timeout=timeout)


def stop_server(settings: Settings, deployment: str, version: str) -> ProcessRecord | None:
    """Forget one version's server, then stop it; returns its record (None when there was none)."""
    with records_lock(settings, deployment):
        path = server_path(settings, deployment, str(version))
        record = load_record(path)
        path.unlink(missing_ok=True)
    if record is not None:
        stop(record)
    return record


def stop_deployment(settings: Settings, deployment: str) -> list[ProcessRecord]:
    """Forget every model server of a deployment, then stop them; returns what was stopped."""
    with records_lock(settings, deployment):
        records = server_records(settings, deployment)
        for record in records:
            server_path(settings, deployment, record.version).unlink(missing_ok=True)
    for record in records:
        stop(record)
    return records


def stop_gateway(settings: Settings) -> None:
    """Forget this home's gateway, then stop it if it runs."""
    with records_lock(settings, GATEWAY_LOCK):
        record = load_record(gateway_path(settings))
        gateway_path(settings).unlink(missing_ok=True)
    if record is not None:
        stop(record)


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
