"""Counting labels as they arrive (`kubeloop_labels_received_total{deployment, outcome}`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from kubeloop.labels.records import OUTCOMES, PutResult
from kubeloop.telemetry import names

UNKNOWN_DEPLOYMENT = "(unknown)"


class LabelCounts:
    """The received-labels counter of one process (the gateway's or the collector's registry)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.received = Counter(names.LABELS_RECEIVED_TOTAL.removesuffix("_total"),
                                "Labels received, by outcome (new, duplicate, changed, refused)",
                                ["deployment", "outcome"], registry=registry)

    def declare(self, deployment: str) -> None:
        """Create the deployment's counters at 0, so a dashboard shows 0 before the first label."""
        for outcome in OUTCOMES:
            self.received.labels(deployment, outcome)

    def stored(self, deployment: str, result: PutResult) -> None:
        """Count what one stored batch was."""
        for outcome in ("new", "duplicate", "changed"):
            self.received.labels(deployment, outcome).inc(getattr(result, outcome))

    def refused(self, deployment: str, count: int) -> None:
        """Count the labels of a refused batch (one that could not be read counts as one)."""
        if count > 0:
            self.received.labels(deployment, "refused").inc(count)
