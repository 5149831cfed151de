"""Prometheus metrics of a model server, named as in kubeloop.telemetry.names."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from kubeloop.predlog import PredictionLogger
from kubeloop.telemetry import names

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ServerMetrics:
    """Request counts and latency by role and status, predicted classes, and the prediction-log queue."""

    def __init__(self, *, deployment: str, model: str, version: str, registry: CollectorRegistry = REGISTRY,
                 logger: PredictionLogger | None = None) -> None:
        self._base = (deployment, model, version)
        labels = list(names.LABELS)
        self.requests = Counter(names.REQUESTS_TOTAL.removesuffix("_total"), "Answered prediction requests",
                                [*labels, "status"], registry=registry)
        self.duration = Histogram(names.REQUEST_DURATION, "Prediction request latency", labels,
                                  buckets=_BUCKETS, registry=registry)
        self.classes = Counter(names.PREDICTIONS_TOTAL.removesuffix("_total"), "Predicted rows by class",
                               [*labels, "class"], registry=registry)
        self.values = Histogram(names.PREDICTION_VALUE, "Predicted values (regressors)", labels,
                                registry=registry)
        if logger is not None:
            registry.register(_LoggerCollector(logger))
        self._children: dict[tuple[Any, ...], Any] = {}

    def observe(self, *, role: str, status: int, seconds: float, predictions: list[Any] | None,
                classifier: bool) -> None:
        """Count one answered request and what it predicted."""
        self._child(self.requests, role, str(status)).inc()
        self._child(self.duration, role).observe(seconds)
        if not predictions:
            return
        # A pyfunc model may predict labels without exposing classes_: text is never a histogram value.
        if classifier or not all(_is_number(value) for value in predictions):
            for value in predictions:
                self._child(self.classes, role, str(value)).inc()
        else:
            histogram = self._child(self.values, role)
            for value in predictions:
                histogram.observe(float(value))

    def _child(self, metric: Any, *labels: str) -> Any:
        # labels() validates and hashes on every call; the label sets here are few, so keep them.
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*self._base, *labels)
        return child


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _LoggerCollector:
    """Reads the prediction logger's own counters at scrape time: nothing to update on the request path."""

    def __init__(self, logger: PredictionLogger) -> None:
        self._logger = logger

    def collect(self) -> Iterator[Any]:
        """The queue depth and the dropped and written totals."""
        yield GaugeMetricFamily(names.PREDLOG_QUEUE_DEPTH, "Prediction-log records waiting",
                                value=self._logger.depth)
        yield CounterMetricFamily(names.PREDLOG_DROPPED_TOTAL.removesuffix("_total"),
                                  "Prediction-log records dropped because the queue was full",
                                  value=self._logger.dropped)
        yield CounterMetricFamily(names.PREDLOG_WRITTEN_TOTAL.removesuffix("_total"),
                                  "Prediction-log records written", value=self._logger.written)
