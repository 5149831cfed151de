"""The local StateStore: one JSON file per deployment, written atomically after every decision."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kubeloop.errors import NotFoundError
from kubeloop.rollout.state import RolloutState
from kubeloop.rollout.store import StateConflict


class FileStateStore:
    """Rollout state files under `<state_dir>/rollouts/`; finished rollouts are copied to `archive/`.

    Every save checks the file still holds what this store last read or wrote (by content digest),
    so a writer that skipped the lock cannot silently overwrite another's decision.
    """

    def __init__(self, state_dir: Path) -> None:
        self.root = Path(state_dir) / "rollouts"
        self._seen: dict[str, str | None] = {}

    def path(self, deployment: str) -> Path:
        """The state file of a deployment's current (or last) rollout."""
        return self.root / f"{deployment}.json"

    def load(self, deployment: str) -> RolloutState | None:
        """The deployment's rollout state, or None when it never had one."""
        text = self._read(deployment)
        self._seen[deployment] = _digest(text)
        return None if text is None else RolloutState.model_validate(json.loads(text))

    def require(self, deployment: str) -> RolloutState:
        """The rollout state, or a NotFoundError naming the deployment."""
        state = self.load(deployment)
        if state is None:
            raise NotFoundError(f"deployment {deployment!r} has no rollout (start one with `rollout start`)")
        return state

    def save(self, state: RolloutState) -> None:
        """Write the state atomically: a temporary file in the same folder, fsynced, then os.replace."""
        deployment = state.deployment
        if deployment in self._seen and _digest(self._read(deployment)) != self._seen[deployment]:
            raise StateConflict(f"the rollout state of {deployment!r} changed since it was read")
        self.root.mkdir(parents=True, exist_ok=True)
        data = json.dumps(state.to_json(), indent=2, sort_keys=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=f".{deployment}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path(deployment))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._seen[deployment] = _digest(data)

    def archive(self, deployment: str) -> None:
        """Copy a finished rollout's file aside before a new one replaces it.

        A copy (not a move) so readers always find a current file: the next `save` replaces it atomically.
        """
        state = self.load(deployment)
        if state is None:
            return
        target = self.root / "archive" / f"{deployment}-{int(state.started_at * 1000)}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.path(deployment), target)

    def archived(self, deployment: str) -> list[RolloutState]:
        """Earlier rollouts of a deployment, oldest first."""
        files = sorted((self.root / "archive").glob(f"{deployment}-*.json"))
        return [RolloutState.model_validate(json.loads(path.read_text())) for path in files]

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

    def _read(self, deployment: str) -> str | None:
        try:
            return self.path(deployment).read_text()
        except FileNotFoundError:
            return None


def _digest(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode()).hexdigest()
