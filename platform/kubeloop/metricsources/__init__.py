"""Metric sources: where analysis reads operational metrics (Prometheus HTTP API, direct scrapes)."""

from kubeloop.metricsources.base import MetricSource

__all__ = ["MetricSource"]
