"""Server metrics: requests by status, predicted classes, and predicted values for regressors."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from kubeloop.serving.core.metrics import ServerMetrics


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, {"deployment": "d", "model": "m", "version": "1", **labels})


def metrics() -> tuple[ServerMetrics, CollectorRegistry]:
    registry = CollectorRegistry()
    return ServerMetrics(deployment="d", model="m", version="1", registry=registry), registry


def test_classifier_predictions_are_counted_by_class() -> None:
    server, registry = metrics()
    server.observe(role="champion", status=200, seconds=0.01, predictions=[0, 1, 1], classifier=True)
    assert sample(registry, "kubeloop_predictions_total", role="champion", **{"class": "1"}) == 2
    assert sample(registry, "kubeloop_requests_total", role="champion", status="200") == 1


def test_text_labels_without_known_classes_count_as_classes_not_values() -> None:
    # A pyfunc classifier that predicts strings exposes no classes_; it must not break the request.
    server, registry = metrics()
    server.observe(role="shadow", status=200, seconds=0.01, predictions=["setosa", "virginica", "setosa"],
                   classifier=False)
    assert sample(registry, "kubeloop_predictions_total", role="shadow", **{"class": "setosa"}) == 2
    assert sample(registry, "kubeloop_prediction_value_count", role="shadow") is None


def test_regressor_values_go_to_the_histogram() -> None:
    server, registry = metrics()
    server.observe(role="champion", status=200, seconds=0.01, predictions=[1.5, 2.5], classifier=False)
    assert sample(registry, "kubeloop_prediction_value_count", role="champion") == 2
    assert sample(registry, "kubeloop_prediction_value_sum", role="champion") == 4.0
