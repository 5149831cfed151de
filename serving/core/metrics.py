"""Prometheus metrics of a model server, named as in kubeloop.telemetry.names.

A server with several forked workers keeps its metrics in prometheus_client's multiprocess mode
(`enable_multiprocess` before the fork), so a scrape that lands on any one worker reports the sum
over all of them rather than that worker's share.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from kubeloop.predlog import PredictionLogger
from kubeloop.telemetry import names

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_DEPTH_HELP = "Prediction-log records waiting"
_DROPPED_HELP = "Prediction-log records dropped because the queue was full"
_WRITTEN_HELP = "Prediction-log records written (at least one sink accepted them)"
_LOST_HELP = "Prediction-log records no sink accepted: never stored"
_SINK_HELP = "Prediction-log records a sink refused or failed to take, by sink"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LOGGER_SYNC_S = 1.0


def enable_multiprocess(directory: Path) -> None:
    """Keep metric values in files under `directory`, shared by this process and the workers it forks.

    prometheus_client picks its value class when it is imported, which here is before the worker
    count is known; metrics created after this call (each worker builds its own) use the files.
    """
    os.environ[MULTIPROC_ENV] = str(directory)
    values.ValueClass = values.get_value_class()


def is_multiprocess() -> bool:
    """True in a worker of a multi-worker server."""
    return bool(os.environ.get(MULTIPROC_ENV))


def exposition() -> bytes:
    """The text format of every metric: summed over all workers in multiprocess mode."""
    if not is_multiprocess():
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return generate_latest(registry)


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
        if logger is not None and is_multiprocess():
            _LoggerSync(logger, registry=registry).start()
        elif logger is not None:
            registry.register(_LoggerCollector(logger))
        self._children: dict[tuple[Any, ...], Any] = {}

    def observe(self, *, role: str, status: int, seconds: float, predictions: list[Any] | None,
                classifier: bool) -> None:
        """Count one answered request and what it predicted."""
        self._child(self.requests, role, str(status)).inc()
        self._child(self.duration, role).observe(seconds)
        if not predictions or not all(isinstance(value, str | int | float) for value in predictions):
            return  # tensors and records per row are no class label nor a histogram value
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
        """The queue depth and the dropped, written, lost and per-sink failure totals."""
        yield GaugeMetricFamily(names.PREDLOG_QUEUE_DEPTH, _DEPTH_HELP, value=self._logger.depth)
        for name, help_text, value in _totals(self._logger):
            yield CounterMetricFamily(name.removesuffix("_total"), help_text, value=value)
        failures = CounterMetricFamily(names.PREDLOG_SINK_FAILURES_TOTAL.removesuffix("_total"), _SINK_HELP,
                                       labels=["sink"])
        for sink in _sink_names(self._logger):
            failures.add_metric([sink], self._logger.sink_failures.get(sink, 0))
        yield failures


def _totals(logger: PredictionLogger) -> list[tuple[str, str, int]]:
    """The logger's counters as (metric name, help, value)."""
    return [(names.PREDLOG_DROPPED_TOTAL, _DROPPED_HELP, logger.dropped),
            (names.PREDLOG_WRITTEN_TOTAL, _WRITTEN_HELP, logger.written),
            (names.PREDLOG_LOST_TOTAL, _LOST_HELP, logger.lost)]


def _sink_names(logger: PredictionLogger) -> list[str]:
    """Every sink's name (each has a failure count, at 0 until it fails)."""
    return sorted({type(sink).__name__ for sink in logger.sinks})


class _LoggerSync(threading.Thread):
    """Copies the logger's counters into multiprocess metrics once a second (a collector sees one process)."""

    def __init__(self, logger: PredictionLogger, *, registry: CollectorRegistry) -> None:
        super().__init__(name="predlog-metrics", daemon=True)
        self._logger = logger
        self._depth = Gauge(names.PREDLOG_QUEUE_DEPTH, _DEPTH_HELP, multiprocess_mode="livesum",
                            registry=registry)
        self._counters = [Counter(name.removesuffix("_total"), help_text, registry=registry)
                          for name, help_text, _ in _totals(logger)]
        self._failures = Counter(names.PREDLOG_SINK_FAILURES_TOTAL.removesuffix("_total"), _SINK_HELP,
                                 ["sink"], registry=registry)
        for sink in _sink_names(logger):
            self._failures.labels(sink)
        self._seen: dict[str, int] = {}
        self._seen_failures: dict[str, int] = {}

    def run(self) -> None:
        """Sync until the logger closes, then once more."""
        while not self._logger.closed.wait(LOGGER_SYNC_S):
            self.sync()
        self.sync()

    def sync(self) -> None:
        """Add what was counted since the last sync; set the depth."""
        for counter, (name, _, value) in zip(self._counters, _totals(self._logger), strict=True):
            counter.inc(value - self._seen.get(name, 0))
            self._seen[name] = value
        for sink, value in list(self._logger.sink_failures.items()):
            self._failures.labels(sink).inc(value - self._seen_failures.get(sink, 0))
            self._seen_failures[sink] = value
        self._depth.set(self._logger.depth)
