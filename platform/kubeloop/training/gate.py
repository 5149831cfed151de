"""The quality gate: a pure decision on a candidate's holdout metrics against a threshold and the champion."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kubeloop.errors import KubeloopError

# Metrics where a larger value is better; the others (errors) are better when smaller.
HIGHER_IS_BETTER = {"accuracy": True, "f1": True, "roc_auc": True, "r2": True, "rmse": False, "mae": False}


def check_metric(metric: str) -> None:
    """Refuse a gate metric kubeloop does not compute ('' means the task's default)."""
    if metric and metric not in HIGHER_IS_BETTER:
        raise KubeloopError(f"gate_metric: unknown metric {metric!r}; known: {', '.join(HIGHER_IS_BETTER)}")


@dataclass(frozen=True, kw_only=True)
class GatePolicy:
    """Pass when `metric` reaches `threshold` and beats the champion by `min_improvement`.

    For error metrics (rmse, mae) the threshold is a maximum and improvement means a decrease.
    """

    metric: str
    threshold: float
    min_improvement: float = 0.0


@dataclass(frozen=True, kw_only=True)
class GateDecision:
    """The verdict with the value it was based on and a reason a person can read."""

    passed: bool
    metric: str
    value: float | None
    champion_value: float | None
    reason: str

    @property
    def verdict(self) -> str:
        """'passed' or 'failed', as recorded in the version tag."""
        return "passed" if self.passed else "failed"


def decide(
    policy: GatePolicy, candidate: Mapping[str, float], champion: Mapping[str, float] | None
) -> GateDecision:
    """The gate decision; `champion` is None for a first model (only the threshold applies)."""
    metric = policy.metric
    value = candidate.get(metric)
    champion_value = None if champion is None else champion.get(metric)
    if value is None:
        return GateDecision(
            passed=False,
            metric=metric,
            value=None,
            champion_value=champion_value,
            reason=f"metric {metric} was not computed for this task",
        )
    higher = HIGHER_IS_BETTER[metric]
    bound = "minimum" if higher else "maximum"
    meets = value >= policy.threshold if higher else value <= policy.threshold
    if not meets:
        return GateDecision(
            passed=False,
            metric=metric,
            value=value,
            champion_value=champion_value,
            reason=f"{metric} {value:.4f} misses the {bound} {policy.threshold:.4f}",
        )
    if champion_value is None:
        return GateDecision(
            passed=True,
            metric=metric,
            value=value,
            champion_value=None,
            reason=f"{metric} {value:.4f} meets the {bound} {policy.threshold:.4f}; no champion to compare",
        )
    gain = value - champion_value if higher else champion_value - value
    if gain < policy.min_improvement:
        return GateDecision(
            passed=False,
            metric=metric,
            value=value,
            champion_value=champion_value,
            reason=(
                f"{metric} {value:.4f} vs champion {champion_value:.4f}: improvement {gain:+.4f} "
                f"is below the required {policy.min_improvement:+.4f}"
            ),
        )
    return GateDecision(
        passed=True,
        metric=metric,
        value=value,
        champion_value=champion_value,
        reason=(
            f"{metric} {value:.4f} meets the {bound} {policy.threshold:.4f} and improves on "
            f"champion {champion_value:.4f} by {gain:+.4f} (required {policy.min_improvement:+.4f})"
        ),
    )
