"""The retrain policy: a pure function from what it knows (`RetrainInputs`) to fire-or-not, with the reason.

It fires only on a streak of decided, drifted checks of the serving version since the last retrain,
outside the cooldown, and only when a retrain can start. A check that could not decide (too few rows,
missing reference, failure) breaks the streak: missing data never triggers a retrain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kubeloop.drift.results import Status
from kubeloop.spec import DriftSpec


@dataclass(frozen=True, kw_only=True)
class WindowOutcome:
    """What one drift check found, as the policy needs it."""

    at: float
    version: str
    status: Status
    drift_share: float | None = None


@dataclass(frozen=True, kw_only=True)
class RetrainInputs:
    """Everything the policy decides on: a frozen value that grows with each new kind of trigger."""

    history: tuple[WindowOutcome, ...]
    version: str
    last_retrain_at: float | None
    now: float
    retraining: bool = True  # False when the caller only checks (`drift check --no-retrain`)
    blocked: str | None = None  # why a retrain cannot start now (no runner, no data, submission refused)


@dataclass(frozen=True, kw_only=True)
class RetrainDecision:
    """Whether to start the training pipeline now, and why (or why not)."""

    fire: bool
    reason: str


def streak(outcomes: Sequence[WindowOutcome]) -> int:
    """How many of the latest outcomes in a row found drift."""
    count = 0
    for outcome in reversed(outcomes):
        if outcome.status != "drift":
            break
        count += 1
    return count


def decide_retrain(*, spec: DriftSpec, inputs: RetrainInputs) -> RetrainDecision:
    """Fire when the last `consecutiveWindows` checks of the version all drifted, outside the cooldown,
    and a retrain can start; otherwise say why not."""
    due = _due(spec, inputs)
    if not due.fire:
        return due
    if not inputs.retraining:
        return RetrainDecision(fire=False, reason=f"would retrain ({due.reason}), but retraining is off")
    if inputs.blocked is not None:
        reason = f"retrain due ({due.reason}) but not started: {inputs.blocked}"
        return RetrainDecision(fire=False, reason=reason)
    return due


def _due(spec: DriftSpec, inputs: RetrainInputs) -> RetrainDecision:
    """Whether the drift history calls for a retrain now, whatever could stop one from starting."""
    version, last_retrain_at, now = inputs.version, inputs.last_retrain_at, inputs.now
    if not spec.enabled:
        return RetrainDecision(fire=False, reason="drift monitoring is disabled")
    if last_retrain_at is not None and now - last_retrain_at < spec.cooldown:
        left = spec.cooldown - (now - last_retrain_at)
        return RetrainDecision(
            fire=False, reason=f"in cooldown for another {left:.0f}s after the last retrain"
        )
    since = float("-inf") if last_retrain_at is None else last_retrain_at
    mine = (o for o in inputs.history if o.version == version and o.at > since)
    relevant = sorted(mine, key=lambda o: o.at)
    if not relevant:
        return RetrainDecision(fire=False, reason=f"no drift checks of version {version} yet")
    latest = relevant[-1]
    if latest.status not in ("drift", "no_drift"):
        return RetrainDecision(
            fire=False,
            reason=f"latest check has no verdict ({latest.status}); missing data never triggers a retrain",
        )
    run = streak(relevant)
    need = spec.consecutive_windows
    if run < need:
        return RetrainDecision(fire=False, reason=f"{run} of {need} consecutive drifted checks")
    return RetrainDecision(
        fire=True,
        reason=f"{run} consecutive drifted checks of version {version} "
        f"(share >= {spec.drift_share_threshold:.2f}, latest {latest.drift_share or 0.0:.2f})",
    )
