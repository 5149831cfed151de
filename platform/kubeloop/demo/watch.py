"""The two things the demo waits on: one turn of the drift loop, and a rollout driven by its controller.

`check_window` is the loop function: the demo calls it on original and on shifted traffic, and the
no-drift test calls it over many undrifted windows to show that it does not retrain.
"""

from __future__ import annotations

import time

from kubeloop.cli.output import console
from kubeloop.drift.job import JobOutcome, run_drift_job
from kubeloop.errors import KubeloopError
from kubeloop.rollout.state import RolloutState
from kubeloop.settings import Settings
from kubeloop.spec import ModelDeployment

# The gateway flushes prediction logs in the background: leave the last moment out of the window.
LOG_LAG_S = 1.0
POLL_S = 0.3


def check_window(
    settings: Settings,
    deployment: ModelDeployment,
    *,
    now: float | None = None,
    wait_timeout: float = 0.0,
    html_report: bool = True,
) -> JobOutcome:
    """One turn of the loop: drift check of the last window; retrain and roll out when the policy fires.

    The same composition as `kubeloop.drift.loop.close_loop`, with the Evidently HTML report optional
    (it costs seconds per check, and `--fast` keeps it for the check that matters).
    """
    from kubeloop.drift.local import local_job
    from kubeloop.drift.loop import rollout_via_cli

    auto = deployment.spec.drift.auto_rollout
    job = local_job(
        settings,
        wait_timeout=wait_timeout,
        start_rollout=rollout_via_cli(settings, deployment.name) if auto else None,
        html_reports=html_report,
    )
    return run_drift_job(job, deployment=deployment, now=time.time() - LOG_LAG_S if now is None else now)


def follow_rollout(settings: Settings, deployment: str, *, version: str, timeout: float) -> RolloutState:
    """Narrate each decision of the rollout of `version` as its controller takes it; the final state."""
    from kubeloop.controller.local import live_pid
    from kubeloop.rollout.file_store import FileStateStore

    store, shown = FileStateStore(settings.state_dir), 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = store.load(deployment)
        if state is not None and state.challenger == str(version):
            for entry in state.history[shown:]:
                if entry.kind != "hold":
                    console.print(
                        f"    {entry.phase.value:<8} {entry.kind:<8} {entry.weight:>3}%  {entry.reason}",
                        highlight=False,
                    )
            shown = len(state.history)
            if state.done and live_pid(settings, deployment) is None:
                return state
        time.sleep(POLL_S)
    raise KubeloopError(
        f"the rollout of version {version} on {deployment!r} did not end within {timeout:.0f}s"
    )
