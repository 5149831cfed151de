"""The collector's label events (CloudEvents type `io.kubeloop.label`) into the local label store.

Kubernetes mode's way in for labels: the collector owns the prediction-log volume, so labels are
stored beside the logs there, through the same checks as the gateway's label endpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from kubeloop.labels.intake import receive
from kubeloop.labels.metrics import LabelCounts
from kubeloop.labels.records import LabelError, PutResult
from kubeloop.labels.store import LocalLabelStore
from kubeloop.predlog.store import deployment_folder


class LabelIntake:
    """Stores the labels of label events, counted by outcome in the collector's registry."""

    def __init__(self, store: LocalLabelStore, *, registry: CollectorRegistry) -> None:
        self.store = store
        self.counts = LabelCounts(registry)

    def accept(self, events: Sequence[tuple[str, list[Any]]]) -> PutResult:
        """Store each event's labels; LabelError for an unknown deployment or a refused batch."""
        total = PutResult()
        for deployment, items in events:
            try:
                known = deployment_folder(self.store.root, deployment).is_dir()
            except ValueError:
                known = False
            if not known:
                raise LabelError(f"no predictions logged for deployment {deployment!r}", status=404)
            try:
                result = receive(self.store, deployment, items)
            except LabelError as error:
                self.counts.refused(deployment, error.refused)
                raise
            self.counts.stored(deployment, result)
            total += result
        return total
