"""Rollout metrics for SREs: phase, canary weight, each check's value, threshold and status, decisions."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge

from kubeloop.analysis.results import Verdict
from kubeloop.rollout.engine import Decision
from kubeloop.rollout.state import Phase, RolloutState
from kubeloop.telemetry import names

_STATUS = {Verdict.PASS: 1, Verdict.INCONCLUSIVE: 0, Verdict.FAIL: -1}


class RolloutMetrics:
    """Gauges and counters in their own registry, so a controller can serve or push exactly these."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.phase = Gauge(
            names.ROLLOUT_PHASE, "1 for the rollout's current phase", ["deployment", "phase"], registry=r
        )
        self.weight = Gauge(
            names.ROLLOUT_CANARY_WEIGHT,
            "Percent of live traffic on the challenger",
            ["deployment"],
            registry=r,
        )
        self.value = Gauge(
            names.ROLLOUT_CHECK_VALUE, "Latest measured value", ["deployment", "check"], registry=r
        )
        self.threshold = Gauge(
            names.ROLLOUT_CHECK_THRESHOLD, "Check threshold", ["deployment", "check"], registry=r
        )
        self.status = Gauge(
            names.ROLLOUT_CHECK_STATUS, "1 pass, 0 inconclusive, -1 fail", ["deployment", "check"], registry=r
        )
        self.decisions = Counter(
            names.ROLLOUT_DECISIONS_TOTAL.removesuffix("_total"),
            "Rollout decisions by kind and reason",
            ["deployment", "kind", "reason"],
            registry=r,
        )
        self.step_started = Gauge(
            names.ROLLOUT_STEP_STARTED, "When the current step began", ["deployment"], registry=r
        )
        self.scrape_failures = Counter(
            names.LOCAL_SCRAPE_FAILURES_TOTAL.removesuffix("_total"),
            "Failed scrapes of a metrics target by the local-mode controller (its samples are missing)",
            ["deployment", "target"],
            registry=r,
        )

    def scrape_failed(self, deployment: str) -> Callable[[str], None]:
        """A hook counting each failed scrape of a target for `deployment`."""
        return lambda target: self.scrape_failures.labels(deployment, target).inc()

    def record(self, state: RolloutState, decision: Decision | None = None) -> None:
        """Export the state after a decision (and count the decision, by kind and a short reason)."""
        deployment = state.deployment
        for phase in Phase:
            self.phase.labels(deployment, phase.value).set(1 if phase is state.phase else 0)
        self.weight.labels(deployment).set(state.weight)
        self.step_started.labels(deployment).set(state.step_started_at)
        checks = decision.checks if decision is not None and decision.checks else state.latest_checks
        for check in checks:
            if check.value is not None:
                self.value.labels(deployment, check.name).set(check.value)
            self.threshold.labels(deployment, check.name).set(check.threshold)
            self.status.labels(deployment, check.name).set(_STATUS[check.verdict])
        if decision is not None and (decision.analysed or decision.changes_traffic):
            self.decisions.labels(deployment, decision.kind.value, reason_class(decision)).inc()


def reason_class(decision: Decision) -> str:
    """A low-cardinality reason label: the failed or inconclusive checks' names, else the kind of move."""
    failing = sorted({c.name for c in decision.checks if c.verdict is Verdict.FAIL})
    if failing:
        return "failed:" + ",".join(failing)
    waiting = sorted({c.name for c in decision.checks if c.verdict is Verdict.INCONCLUSIVE})
    if waiting:
        return "inconclusive:" + ",".join(waiting)
    if not decision.analysed:
        return "manual"
    if "deadline" in decision.reason:
        return "deadline"
    return "checks-pass" if decision.checks else decision.kind.value
