"""The retrain policy: a pure function from what it knows (`RetrainInputs`) to fire-or-not, with the reason.

Two triggers, outside the cooldown and only when a retrain can start. Input drift: a streak of
decided, drifted checks of the serving version since the last retrain; a check that could not decide
(too few rows, missing reference, failure) breaks the streak, so missing data never triggers a
retrain. A quality drop (concept drift, `spec.quality`): the version's online quality in the latest
check, from labels, shown to be below its own offline (holdout) figure by more than `maxDrop` - the
whole confidence interval below it, so a handful of unlucky labels cannot retrain - with at least
`minLabels` labels. Either fires; the reason names each that did.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from kubeloop.drift.results import Status
from kubeloop.spec import DriftSpec, QualityTriggerSpec


@dataclass(frozen=True, kw_only=True)
class QualityReading:
    """The serving version's online quality over a window, from labels, beside its own offline figure."""

    metric: str
    value: float
    low: float
    high: float
    labels: int  # labeled rows of the version in the window
    offline: float | None = None  # its holdout figure from training; None when it has none
    higher_is_better: bool = True

    def shown(self) -> str:
        """The estimate as the reasons print it."""
        offline = "no holdout figure" if self.offline is None else f"holdout {self.offline:.3f}"
        interval = f"{self.low:.3f}-{self.high:.3f}, {self.labels} labels"
        return f"online {self.metric} {self.value:.3f} ({interval}) vs {offline}"


@dataclass(frozen=True, kw_only=True)
class WindowOutcome:
    """What one drift check found, as the policy needs it."""

    at: float
    version: str
    status: Status
    drift_share: float | None = None
    quality: QualityReading | None = None


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
    """Whether to start the training pipeline now, and why (or why not); `triggers` names what fired."""

    fire: bool
    reason: str
    triggers: tuple[str, ...] = ()

    @property
    def trigger(self) -> str:
        """What fired, as the retrain counter's `reason` label: drift, quality or drift+quality."""
        return "+".join(self.triggers)


def streak(outcomes: Sequence[WindowOutcome]) -> int:
    """How many of the latest outcomes in a row found drift."""
    count = 0
    for outcome in reversed(outcomes):
        if outcome.status != "drift":
            break
        count += 1
    return count


def decide_retrain(*, spec: DriftSpec, inputs: RetrainInputs) -> RetrainDecision:
    """Fire when the last `consecutiveWindows` checks of the version all drifted or its quality dropped,
    outside the cooldown, and a retrain can start; otherwise say why not."""
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
    """Whether the checks call for a retrain now, whatever could stop one from starting."""
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
    drift = _drift_due(spec, relevant)
    if spec.quality is None:
        return drift
    quality = quality_due(spec.quality, relevant[-1].quality, version=version)
    fired = [d for d in (drift, quality) if d.fire]
    shown = fired or [drift, quality]
    return RetrainDecision(fire=bool(fired), reason="; ".join(d.reason for d in shown),
                           triggers=tuple(t for d in fired for t in d.triggers))


def _drift_due(spec: DriftSpec, relevant: list[WindowOutcome]) -> RetrainDecision:
    """The input-drift trigger on the version's checks since the last retrain (oldest first)."""
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
        reason=f"{run} consecutive drifted checks of version {latest.version} "
        f"(share >= {spec.drift_share_threshold:.2f}, latest {latest.drift_share or 0.0:.2f})",
        triggers=("drift",),
    )


def quality_due(
    trigger: QualityTriggerSpec, reading: QualityReading | None, *, version: str
) -> RetrainDecision:
    """The quality trigger: fire when the whole interval lies beyond the offline figure by `maxDrop`."""
    unjudged = _unjudged(trigger, reading, version=version)
    if unjudged is not None or reading is None or reading.offline is None:
        return RetrainDecision(fire=False, reason=unjudged or "")
    sign = 1.0 if reading.higher_is_better else -1.0
    limit = reading.offline - sign * trigger.max_drop
    nearest = reading.high if reading.higher_is_better else reading.low  # the bound closest to the offline
    if sign * (limit - nearest) > 0:
        reason = f"quality drop: {reading.shown()}, beyond {limit:.3f} (max drop {trigger.max_drop:g})"
        return RetrainDecision(fire=True, reason=reason, triggers=("quality",))
    reason = f"quality holds: {reading.shown()}, no drop beyond {limit:.3f} shown"
    return RetrainDecision(fire=False, reason=reason)


def _unjudged(trigger: QualityTriggerSpec, reading: QualityReading | None, *, version: str) -> str | None:
    """Why the reading cannot show a drop (too few labels, nothing to compare with), or None."""
    if reading is None:
        return f"no labeled answers of version {version} in the window"
    if reading.labels < trigger.min_labels:
        return (f"{reading.labels} labeled answers of version {version}, fewer than the "
                f"{trigger.min_labels} a quality verdict needs")
    if reading.offline is None:
        return f"version {version} has no holdout {reading.metric} to compare its online quality with"
    if not all(math.isfinite(x) for x in (reading.value, reading.low, reading.high)):
        return f"online {reading.metric} is undefined on these labels"
    return None
