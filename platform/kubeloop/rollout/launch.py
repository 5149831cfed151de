"""Starting a rollout from a pipeline task: `kubeloop rollout start` in a child process.

The rollout's controller must outlive the task that starts it; the CLI's start spawns it detached
and records it, so a pipeline task goes through exactly the path a person at the terminal does.
"""

from __future__ import annotations

import subprocess
import sys

from kubeloop.errors import KubeloopError

START_TIMEOUT_S = 300.0


def start_rollout(
    *, deployment: str, version: str, strategy: str = "", timeout: float = START_TIMEOUT_S
) -> str:
    """Start rolling `version` out on `deployment`; KubeloopError with the CLI's reason when it does not."""
    args = [sys.executable, "-m", "kubeloop", "rollout", "start", deployment, "--version", str(version)]
    done = subprocess.run(
        args + (["--strategy", strategy] if strategy else []),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    said = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    if done.returncode != 0:
        reason = said[-1].removeprefix("error: ") if said else f"exit code {done.returncode}"
        raise KubeloopError(f"rollout of version {version} on {deployment!r} not started: {reason}")
    return " ".join(said)
