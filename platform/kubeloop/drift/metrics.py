"""Drift results as Prometheus metrics, served on `/metrics` or pushed to a Pushgateway.

A check without a verdict exports its row count and run time but no share and no detected flag:
an absent series reads as "unknown" on a dashboard, where a zero would wrongly read as "no drift".
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from kubeloop.drift.results import DriftResult
from kubeloop.telemetry import names
from kubeloop.telemetry.push import Pushed, push

PREDICTION_FEATURE = "__prediction__"
PUSH_JOB = "kubeloop-drift"
# The reason label of the retrains the policy starts: what fired (drift, quality, drift+quality).
TRIGGERS = ("drift", "quality")


class DriftMetrics:
    """The drift gauges of every deployment a process checks, in one registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        version_labels = ("deployment", "model", "version")
        self.share = Gauge(
            names.DRIFT_SHARE,
            "Share of features whose drift verdict is positive.",
            version_labels,
            registry=self.registry,
        )
        self.score = Gauge(
            names.DRIFT_SCORE,
            "Per-feature drift score (p-value for tests, distance otherwise).",
            (*version_labels, "feature"),
            registry=self.registry,
        )
        self.detected = Gauge(
            names.DRIFT_DETECTED,
            "1 when the last check found dataset drift, 0 when not.",
            version_labels,
            registry=self.registry,
        )
        self.rows = Gauge(
            names.DRIFT_ROWS,
            "Logged rows in the last checked window.",
            version_labels,
            registry=self.registry,
        )
        self.last_run = Gauge(
            names.DRIFT_LAST_RUN,
            "When the last drift check ran (epoch seconds).",
            ("deployment",),
            registry=self.registry,
        )
        self.retrains = Counter(
            names.RETRAINS_TOTAL,
            "Training pipelines started by the retrain policy.",
            ("deployment", "reason"),
            registry=self.registry,
        )
        self.pipeline_runs = Counter(
            names.PIPELINE_RUNS_TOTAL,
            "Training pipeline runs started by the retrain policy, by state (submitted, then its end).",
            ("pipeline", "state"),
            registry=self.registry,
        )
        self._series: dict[str, list[tuple[Gauge, tuple[str, ...]]]] = {}

    def record(self, *, deployment: str, model: str, version: str, result: DriftResult, now: float) -> None:
        """Replace the deployment's drift series with those of this result."""
        for gauge, labels in self._series.pop(deployment, []):
            gauge.remove(*labels)
        base = (deployment, model, version)
        series: list[tuple[Gauge, tuple[str, ...]]] = [(self.rows, base)]
        self.rows.labels(*base).set(result.rows)
        if result.decided:
            self.share.labels(*base).set(result.drift_share or 0.0)
            self.detected.labels(*base).set(1.0 if result.detected else 0.0)
            series += [(self.share, base), (self.detected, base)]
            tested = list(result.features) + ([result.prediction] if result.prediction else [])
            for feature in tested:
                name = PREDICTION_FEATURE if feature is result.prediction else feature.feature
                self.score.labels(*base, name).set(feature.score)
                series.append((self.score, (*base, name)))
        self.last_run.labels(deployment).set(now)
        self._series[deployment] = series

    def declare(self, *, deployment: str, pipeline: str, triggers: tuple[str, ...] = ("drift",)) -> None:
        """Create the retrain and pipeline-run counters at 0: a dashboard shows 0 rather than nothing."""
        for trigger in triggers:
            self.retrains.labels(deployment, trigger)
        self.pipeline_runs.labels(pipeline, "submitted")

    def count_retrain(self, *, deployment: str, reason: str) -> None:
        """Count one training run started by the policy."""
        self.retrains.labels(deployment, reason).inc()

    def count_pipeline_run(self, *, pipeline: str, state: str) -> None:
        """Count a pipeline run reaching a state: `submitted` when started, then how it ended."""
        self.pipeline_runs.labels(pipeline, state).inc()

    def push(self, *, url: str, deployment: str, timeout: float = 5.0) -> Pushed:
        """Push to a Pushgateway, grouped by deployment; an unreachable gateway is reported, not raised."""
        grouping = {"deployment": deployment}
        return push(self.registry, url=url, job=PUSH_JOB, grouping=grouping, timeout=timeout)

    def exposition(self) -> str:
        """The metrics in Prometheus text format, as `/metrics` serves them."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry).decode()

    def serve(self, *, port: int = 0, host: str = "127.0.0.1") -> tuple[object, int]:
        """Serve `/metrics` on a background thread; returns the server (call shutdown()) and its port."""
        from prometheus_client import start_http_server

        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server, int(server.server_port)
