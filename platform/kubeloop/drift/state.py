"""The drift state file of a deployment: check history, last retrain and the retrain trail.

One JSON file per deployment under the state folder, replaced atomically, so a restarted controller
keeps its streaks and cooldowns.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from kubeloop.drift.policy import QualityReading, WindowOutcome

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
    trigger: str = "drift"  # what fired: drift, quality or drift+quality
    # What the run trained on: the pipeline's data (reference), or the labeled predictions made in
    # [labels_since, labels_until), alone (labeled) or mixed with the data (both).
    train_on: str = "reference"
    labels_since: float | None = None
    labels_until: float | None = None
    labeled_rows: int | None = None  # labeled inputs in that window when the run was submitted

    def trained_on(self) -> str:
        """What the run trained on, in words (for `drift history` and the demo)."""
        if self.train_on == "reference" or self.labels_since is None or self.labels_until is None:
            return "its data (reference)"
        since, until = time.gmtime(self.labels_since), time.gmtime(self.labels_until)
        same_day = since[:3] == until[:3]
        window = (f"{time.strftime('%Y-%m-%d %H:%M:%S', since)}-"
                  f"{time.strftime('%H:%M:%S' if same_day else '%Y-%m-%d %H:%M:%S', until)} UTC")
        mixed = " mixed with its data" if self.train_on == "both" else ""
        return f"{self.labeled_rows} labeled answers of {window}{mixed}"


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
            history=tuple(_outcome(o) for o in data.get("history", [])),
            last_run=data.get("last_run"),
            last_retrain_at=data.get("last_retrain_at"),
            trail=tuple(TrailEntry(**t) for t in data.get("trail", [])),
        )
    except (ValueError, TypeError) as error:
        raise ValueError(f"drift state file {path} is unreadable: {error}") from None


def _outcome(data: dict[str, Any]) -> WindowOutcome:
    quality = data.get("quality")
    return WindowOutcome(**{**data, "quality": QualityReading(**quality) if quality else None})


def save_state(path: Path, state: DriftState) -> None:
    """Write the state atomically (write a temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(state), indent=1, sort_keys=True))
    os.replace(tmp, path)
