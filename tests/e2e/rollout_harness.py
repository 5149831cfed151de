"""Given/When/Then helpers for the rollout end-to-end tests: models to register, the CLI, the state."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from kubeloop.settings import HOME_ENV, TRACKING_ENV, Settings, load_settings


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


@contextmanager
def isolated_home(workdir: Path) -> Iterator[Settings]:
    """KUBELOOP_HOME under `workdir` with its own SQLite registry, for as long as the block runs."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(HOME_ENV, str(workdir / "home"))
        patch.delenv(TRACKING_ENV, raising=False)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        yield load_settings().ensure_dirs()


def register_all(settings: Settings, *, name: str, kinds: tuple[str, ...]) -> dict[str, str]:
    """Register one model version of each kind (the first becomes the champion): kind -> version."""
    return {kind: register(settings, name=name, kind=kind) for kind in kinds}


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
