"""The drift state file of a deployment: check history, last retrain and the retrain trail.

One JSON file per deployment under the state folder, replaced atomically, so a restarted controller
keeps its streaks and cooldowns.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from kubeloop.drift.policy import WindowOutcome

MAX_HISTORY = 200
MAX_TRAIL = 50


@dataclass(frozen=True, kw_only=True)
class TrailEntry:
    """One retrain, followed from the drift report to the rollout it led to."""

    at: float
    source_version: str
    report: str
    reason: str
    pipeline: str
    run_id: str | None = None
    run_state: str = "submitted"
    model_version: str | None = None
    rollout: str | None = None


@dataclass(frozen=True, kw_only=True)
class DriftState:
    """Everything the retrain policy remembers between checks."""

    history: tuple[WindowOutcome, ...] = ()
    last_run: float | None = None
    last_retrain_at: float | None = None
    trail: tuple[TrailEntry, ...] = field(default_factory=tuple)

    def with_outcome(self, outcome: WindowOutcome) -> DriftState:
        """The state after one more check."""
        return replace(self, history=(*self.history, outcome)[-MAX_HISTORY:], last_run=outcome.at)

    def with_trail(self, entry: TrailEntry, *, retrain: bool = False) -> DriftState:
        """The state with a trail entry added, or the latest one updated when it is the same run."""
        trail = list(self.trail)
        if trail and entry.run_id is not None and trail[-1].run_id == entry.run_id:
            trail[-1] = entry
        else:
            trail.append(entry)
        last = entry.at if retrain else self.last_retrain_at
        return replace(self, trail=tuple(trail[-MAX_TRAIL:]), last_retrain_at=last)


def state_path(state_dir: Path, deployment: str) -> Path:
    """Where a deployment's drift state lives."""
    return Path(state_dir) / "drift" / f"{deployment}.json"


def load_state(path: Path) -> DriftState:
    """The saved state, or a fresh one when there is none; a corrupt file raises ValueError naming it."""
    if not path.exists():
        return DriftState()
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return DriftState(
            history=tuple(WindowOutcome(**o) for o in data.get("history", [])),
            last_run=data.get("last_run"),
            last_retrain_at=data.get("last_retrain_at"),
            trail=tuple(TrailEntry(**t) for t in data.get("trail", [])),
        )
    except (ValueError, TypeError) as error:
        raise ValueError(f"drift state file {path} is unreadable: {error}") from None


def save_state(path: Path, state: DriftState) -> None:
    """Write the state atomically (write a temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(state), indent=1, sort_keys=True))
    os.replace(tmp, path)
