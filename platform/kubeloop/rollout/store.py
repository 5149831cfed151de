"""The state store: one JSON file per deployment, written atomically after every decision."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kubeloop.errors import NotFoundError
from kubeloop.rollout.state import RolloutState


class StateStore:
    """Rollout state files under `<state_dir>/rollouts/`; finished rollouts move to `archive/`."""

    def __init__(self, state_dir: Path) -> None:
        self.root = Path(state_dir) / "rollouts"

    def path(self, deployment: str) -> Path:
        """The state file of a deployment's current (or last) rollout."""
        return self.root / f"{deployment}.json"

    def load(self, deployment: str) -> RolloutState | None:
        """The deployment's rollout state, or None when it never had one."""
        try:
            text = self.path(deployment).read_text()
        except FileNotFoundError:
            return None
        return RolloutState.from_dict(json.loads(text))

    def require(self, deployment: str) -> RolloutState:
        """The rollout state, or a NotFoundError naming the deployment."""
        state = self.load(deployment)
        if state is None:
            raise NotFoundError(f"deployment {deployment!r} has no rollout (start one with `rollout start`)")
        return state

    def save(self, state: RolloutState) -> None:
        """Write the state atomically: a temporary file in the same folder, fsynced, then os.replace."""
        self.root.mkdir(parents=True, exist_ok=True)
        data = json.dumps(state.to_dict(), indent=2, sort_keys=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=f".{state.deployment}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path(state.deployment))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def archive(self, deployment: str) -> Path | None:
        """Copy a finished rollout's file aside before a new one replaces it; returns the copy.

        A copy (not a move) so readers always find a current file: the next `save` replaces it atomically.
        """
        state = self.load(deployment)
        if state is None:
            return None
        target = self.root / "archive" / f"{deployment}-{int(state.started_at * 1000)}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.path(deployment), target)
        return target

    def archived(self, deployment: str) -> list[RolloutState]:
        """Earlier rollouts of a deployment, oldest first."""
        files = sorted((self.root / "archive").glob(f"{deployment}-*.json"))
        return [RolloutState.from_dict(json.loads(path.read_text())) for path in files]

    def deployments(self) -> list[str]:
        """Deployments that have a current rollout file."""
        return sorted(path.stem for path in self.root.glob("*.json"))

    @contextmanager
    def lock(self, deployment: str) -> Iterator[None]:
        """Hold the deployment's lock so the controller and a by-hand command never act at once."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f".{deployment}.lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
