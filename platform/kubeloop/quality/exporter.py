"""Online quality and label counts as Prometheus gauges (`kubeloop_quality_*`, `kubeloop_labels_*`).

Each estimate is three series, value and interval bounds, labelled by deployment, model, version,
role, metric and class (empty for whole-model metrics). A new report replaces the deployment's
series, so a version no longer labeled disappears instead of showing a stale figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from prometheus_client import CollectorRegistry, Gauge

from kubeloop.quality.online import VersionQuality
from kubeloop.quality.statistic import Estimate
from kubeloop.telemetry import names
from kubeloop.telemetry.push import Pushed, push

PUSH_JOB = "kubeloop-quality"
_LABELS = ("deployment", "model", "version", "role")


class QualityMetrics:
    """The quality gauges of the deployments one process measures, in one registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        series = (*_LABELS, "metric", "class")
        self.value = Gauge(names.QUALITY_VALUE, "Online quality estimate, weighted by inclusion probability",
                           series, registry=self.registry)
        self.lower = Gauge(names.QUALITY_LOWER, "Lower bound of the estimate's confidence interval",
                           series, registry=self.registry)
        self.upper = Gauge(names.QUALITY_UPPER, "Upper bound of the estimate's confidence interval",
                           series, registry=self.registry)
        self.labeled = Gauge(names.QUALITY_LABELED_ROWS, "Labeled rows behind the estimates", _LABELS,
                             registry=self.registry)
        self.effective = Gauge(names.QUALITY_EFFECTIVE_ROWS, "Effective sample size of the weighted rows",
                               _LABELS, registry=self.registry)
        self.last_run = Gauge(names.QUALITY_LAST_RUN, "When quality was last measured (epoch seconds)",
                              ("deployment",), registry=self.registry)
        self.stored = Gauge(names.LABELS_STORED, "Labels stored", ("deployment",), registry=self.registry)
        self.unmatched = Gauge(names.LABELS_UNMATCHED, "Stored labels whose prediction is not logged (yet)",
                               ("deployment",), registry=self.registry)
        self.offline = Gauge(names.QUALITY_OFFLINE, "The version's own holdout metric (training)",
                             ("deployment", "model", "version", "metric"), registry=self.registry)
        self._series: dict[str, list[tuple[Gauge, tuple[str, ...]]]] = {}

    def record(self, *, deployment: str, model: str, reports: Sequence[VersionQuality],
               counts: Mapping[str, int], now: float,
               offline: Mapping[str, Mapping[str, float]] | None = None) -> None:
        """Replace the deployment's series with this measurement's; `offline`: version -> its holdout
        figures under the online metrics' names (`kubeloop.quality.online.offline_figures`)."""
        for gauge, labels in self._series.pop(deployment, []):
            gauge.remove(*labels)
        kept: list[tuple[Gauge, tuple[str, ...]]] = []
        for version, figures in (offline or {}).items():
            for metric, value in figures.items():
                self.offline.labels(deployment, model, version, metric).set(value)
                kept.append((self.offline, (deployment, model, version, metric)))
        for report in reports:
            base = (deployment, model, report.version, report.role)
            self.labeled.labels(*base).set(report.labeled)
            self.effective.labels(*base).set(report.effective)
            kept += [(self.labeled, base), (self.effective, base)]
            for metric, estimate in report.metrics.items():
                kept += self._estimate((*base, metric, ""), estimate)
            for metric, by_class in report.per_class.items():
                for name, estimate in by_class.items():
                    kept += self._estimate((*base, metric, name), estimate)
        self._series[deployment] = kept
        self.stored.labels(deployment).set(counts.get("stored", 0))
        self.unmatched.labels(deployment).set(counts.get("unmatched", 0))
        self.last_run.labels(deployment).set(now)

    def _estimate(self, labels: tuple[str, ...], estimate: Estimate) -> list[tuple[Gauge, tuple[str, ...]]]:
        kept = []
        for gauge, value in ((self.value, estimate.value), (self.lower, estimate.low),
                             (self.upper, estimate.high)):
            if value == value:  # NaN (undefined on this data) leaves the series out
                gauge.labels(*labels).set(value)
                kept.append((gauge, labels))
        return kept

    def push(self, *, url: str, deployment: str) -> Pushed:
        """Push to a Pushgateway, grouped by deployment."""
        return push(self.registry, url=url, job=PUSH_JOB, grouping={"deployment": deployment})
