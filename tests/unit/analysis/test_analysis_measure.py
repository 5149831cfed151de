"""Measuring the checks of a phase through fake sources (component tests of our own code)."""

from __future__ import annotations

import pandas as pd

from kubeloop.analysis.measure import Subject, measure
from kubeloop.analysis.results import Verdict
from kubeloop.errors import BackendUnavailable
from kubeloop.spec import CheckSpec, default_checks
from kubeloop.telemetry import queries

SUBJECT = Subject(deployment="iris", champion="1", challenger="2")


class FakeMetrics:
    """Answers the exact typed queries of telemetry.queries from a table; anything else is no data."""

    def __init__(self, answers: dict[queries.Query, float | None], *, down: bool = False) -> None:
        self.answers = answers
        self.down = down
        self.asked: list[queries.Query] = []

    def query(self, query: queries.Query) -> float | None:
        self.asked.append(query)
        if self.down:
            raise BackendUnavailable("prometheus down")
        return self.answers.get(query)


def answers(
    *, errors: float, p99: tuple[float, float], counts: tuple[int, int] = (500, 500), retries: float = 0
) -> dict:
    span = 10
    two, one = SUBJECT.labels("2"), SUBJECT.labels("1")
    requests, durations = SUBJECT.requests_metric, SUBJECT.duration_metric
    failed = {**two, "status": queries.ERROR_STATUS}
    return {
        queries.request_count(failed, span, metric=requests): errors * counts[0],
        queries.request_count(two, span, metric=requests): counts[0],
        queries.request_count(one, span, metric=requests): counts[1],
        queries.retry_count("iris", span): retries,
        queries.latency_quantile(two, span, metric=durations): p99[0],
        queries.latency_quantile(one, span, metric=durations): p99[1],
    }


def reader(labels: dict[str, list]) -> object:
    def read(version: str, since: float, until: float) -> pd.DataFrame:
        values = labels[version]
        return pd.DataFrame(
            {
                "request_id": [str(i) for i in range(len(values))],
                "row": 0,
                "prediction": values,
                "status": 200,
            }
        )

    return read


def run(metrics: FakeMetrics, *, phase: str = "shadow", preds: dict | None = None) -> dict[str, object]:
    preds = preds or {"1": [0, 1] * 100, "2": [0, 1] * 100}
    results = measure(
        default_checks(),
        subject=SUBJECT,
        phase=phase,
        since=0,
        until=10,
        metrics=metrics,
        predictions=reader(preds),
    )
    return {r.name: r for r in results}


def test_a_good_challenger_passes_every_check() -> None:
    results = run(FakeMetrics(answers(errors=0.0, p99=(0.02, 0.02))))
    assert {r.verdict for r in results.values()} == {Verdict.PASS}
    assert results["latency-p99"].value == 1.0 and results["disagreement"].samples == 200


def test_errors_and_slowness_fail_with_value_and_threshold() -> None:
    results = run(FakeMetrics(answers(errors=0.2, p99=(0.2, 0.02))))
    assert results["error-rate"].verdict is Verdict.FAIL and results["error-rate"].value == 0.2
    assert results["latency-p99"].verdict is Verdict.FAIL and results["latency-p99"].value == 10.0
    assert results["error-rate"].threshold == 0.01


def test_different_answers_fail_disagreement() -> None:
    results = run(FakeMetrics(answers(errors=0, p99=(1, 1))), preds={"1": [0] * 100, "2": [1] * 100})
    assert results["disagreement"].verdict is Verdict.FAIL and results["disagreement"].value == 1.0
    assert results["prediction-shift"].verdict is Verdict.FAIL


def test_canary_refusals_retried_by_the_gateway_count_as_failures() -> None:
    results = run(FakeMetrics(answers(errors=0.0, p99=(1, 1), counts=(0, 500), retries=60)), phase="canary")
    assert results["error-rate"].value == 1.0 and results["error-rate"].samples == 60
    assert results["error-rate"].verdict is Verdict.FAIL


def test_scarce_traffic_is_inconclusive() -> None:
    results = run(FakeMetrics(answers(errors=0.0, p99=(1, 1), counts=(3, 500))))
    assert (
        results["error-rate"].verdict is Verdict.INCONCLUSIVE and "3 samples" in results["error-rate"].reason
    )


def test_a_source_outage_is_inconclusive_with_the_reason() -> None:
    results = run(FakeMetrics({}, down=True))
    assert (
        results["error-rate"].verdict is Verdict.INCONCLUSIVE
        and "prometheus down" in results["error-rate"].reason
    )


def test_canary_does_not_measure_disagreement() -> None:
    assert "disagreement" not in run(FakeMetrics(answers(errors=0, p99=(1, 1))), phase="canary")


def test_custom_promql_expands_placeholders() -> None:
    check = CheckSpec(
        name="acc", kind="promql", query='x{version="$challenger"}[$window]', threshold=1, min_samples=1
    )
    metrics = FakeMetrics({queries.PromQL('x{version="2"}[10s]'): 0.5})
    (result,) = measure(
        (check,), subject=SUBJECT, phase="canary", since=0, until=10, metrics=metrics, predictions=None
    )
    assert (result.verdict, result.value) == (Verdict.PASS, 0.5)
