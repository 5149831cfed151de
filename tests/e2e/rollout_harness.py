"""Given/When/Then helpers for the rollout end-to-end tests: models to register, the CLI, the state."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from kubeloop.local import processes
from kubeloop.settings import HOME_ENV, TRACKING_ENV, Settings, load_settings


@contextmanager
def isolated_home(workdir: Path) -> Iterator[Settings]:
    """KUBELOOP_HOME under `workdir` (its own SQLite registry) for the block, for this process and the CLI."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(HOME_ENV, str(workdir / "home"))
        patch.delenv(TRACKING_ENV, raising=False)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        yield load_settings().ensure_dirs()


def register(settings: Settings, *, name: str, kind: str, seed: int = 0) -> str:
    """Register an iris model: `champion`, `good` (another regression), `shuffled` labels or `erroring`;
    the first one registered becomes the champion."""
    from kubeloop.registry.mlflow_registry import MlflowRegistry
    from kubeloop.serving.testing import register_iris

    registry = MlflowRegistry(tracking_uri=settings.tracking_uri)
    aliases = ("champion",) if registry.version_for_alias(name, "champion") is None else ()
    estimator = {"champion": "logreg", "good": "logreg"}.get(kind, kind)
    return register_iris(
        settings, name=name, kind=estimator, seed=1 if kind == "good" else seed, aliases=aliases
    )


def main_in_process(capfd: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the CLI's entry point in this process (no interpreter start-up): (exit code, stdout, stderr)."""
    from kubeloop.cli import main

    capfd.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as done:
        code = int(done.code or 0)
    captured = capfd.readouterr()
    return code, captured.out, captured.err


def kubeloop(*args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would (in the environment the test set up)."""
    done = subprocess.run(
        [sys.executable, "-m", "kubeloop", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"kubeloop {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


def rollout_state(settings: Settings, deployment: str) -> dict[str, Any]:
    """The state file as the controller wrote it."""
    return json.loads((settings.state_dir / "rollouts" / f"{deployment}.json").read_text())


def wait_for(predicate: Any, *, timeout: float, what: str, poll: float = 0.2, show: Any = None) -> Any:
    """Poll until `predicate()` is truthy; fail naming `what` (and `show()`) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(
        f"timed out after {timeout:.0f}s waiting for {what}" + (f": {show()}" if show else "")
    )


@contextmanager
def iris_deployment(
    workdir: Path, *, model: str, register_all: Callable[[Settings], dict[str, str]], spec: str = ""
) -> Iterator[tuple[Settings, dict[str, str], str]]:
    """A fresh home with the versions registered and `iris` deployed behind the gateway (settings,
    versions, gateway URL); every controller, server and the gateway are stopped afterwards.
    `spec` adds lines to the ModelDeployment's spec (two-space indented YAML)."""
    with isolated_home(workdir) as settings:
        versions = register_all(settings)
        (workdir / "iris.yaml").write_text(
            f"apiVersion: kubeloop.io/v1alpha1\nkind: ModelDeployment\nmetadata: {{name: iris}}\n"
            f"spec:\n  model: {{name: {model}}}\n"
            f"  serving: {{runtime: kserve, port: {processes.free_port()}}}\n{spec}"
        )
        try:
            kubeloop("deploy", str(workdir / "iris.yaml"))
            gateway = processes.gateway_record(settings)
            assert gateway is not None, "kubeloop deploy did not record a gateway"
            yield settings, versions, gateway.url
        finally:
            stop_controller(settings)
            processes.stop_deployment(settings, "iris")
            processes.stop_gateway(settings)


def stop_controller(settings: Settings) -> None:
    """Kill the deployment's rollout controller if one runs (a test that failed may leave it)."""
    pid_file = settings.state_dir / "rollouts" / "iris.pid"
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
