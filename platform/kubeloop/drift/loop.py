"""One turn of the loop for a deployment: drift check -> retrain when due -> rollout of what it registered.

`close_loop` is what a daemon or `kubeloop demo` calls on the deployment's schedule; the rollout of
a new version goes through `kubeloop rollout start`, the same command a person would use.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from kubeloop.drift.job import DriftJob, JobOutcome, RolloutStarter, run_drift_job
from kubeloop.drift.metrics import DriftMetrics
from kubeloop.drift.schedule import is_due
from kubeloop.drift.state import load_state, state_path
from kubeloop.errors import KubeloopError
from kubeloop.settings import HOME_ENV, TRACKING_ENV, Settings
from kubeloop.spec import ModelDeployment


def rollout_via_cli(settings: Settings, deployment: str, *, timeout: float = 300.0) -> RolloutStarter:
    """Start a rollout of a version with `kubeloop rollout start` (it leaves a controller running)."""

    def start(version: str) -> str:
        env = {**os.environ, HOME_ENV: str(settings.home), TRACKING_ENV: settings.tracking_uri}
        done = subprocess.run(
            [sys.executable, "-m", "kubeloop", "rollout", "start", deployment, "--version", version],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        said = (done.stdout + done.stderr).strip().splitlines()
        if done.returncode != 0:
            # The CLI already prefixed its message with "error: "; the caller's handler adds its own.
            raise KubeloopError(
                said[-1].removeprefix("error: ")
                if said
                else f"kubeloop rollout start exited {done.returncode}"
            )
        return said[0] if said else f"rollout of version {version} started"

    return start


def run_when_due(job: DriftJob, *, deployment: ModelDeployment, now: float) -> JobOutcome | None:
    """Run the drift job if the deployment's schedule has fired since its last check, else None."""
    last = load_state(state_path(job.state_dir, deployment.name)).last_run
    if not deployment.spec.drift.enabled or not is_due(
        schedule=deployment.spec.drift.schedule, last_run=last, now=now
    ):
        return None
    return run_drift_job(job, deployment=deployment, now=now)


def close_loop(
    settings: Settings,
    deployment: ModelDeployment,
    *,
    now: float | None = None,
    wait_timeout: float = 900.0,
    metrics: DriftMetrics | None = None,
    only_when_due: bool = True,
) -> JobOutcome | None:
    """Check drift; when the policy fires, train, and roll the new version out if the spec says so."""
    from kubeloop.drift.local import local_job

    starter = rollout_via_cli(settings, deployment.name) if deployment.spec.drift.auto_rollout else None
    job = local_job(settings, wait_timeout=wait_timeout, start_rollout=starter, metrics=metrics)
    now = time.time() if now is None else now
    if only_when_due:
        return run_when_due(job, deployment=deployment, now=now)
    return run_drift_job(job, deployment=deployment, now=now)
