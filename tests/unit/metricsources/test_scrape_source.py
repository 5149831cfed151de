"""Direct scrapes: the PromQL shapes of telemetry.queries evaluated between successive scrapes."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from kubeloop.errors import SpecError
from kubeloop.metricsources.promql_eval import Snapshot, evaluate, first_value
from kubeloop.metricsources.scrape import ScrapeSource, parse_exposition
from kubeloop.telemetry import queries

LABELS = ("deployment", "model", "version", "role", "status")


class Server:
    """A model server's metrics, served through an httpx mock transport."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("kubeloop_requests", "", LABELS, registry=self.registry)
        self.latency = Histogram(
            "kubeloop_request_duration_seconds",
            "",
            LABELS[:4],
            registry=self.registry,
            buckets=(0.01, 0.05, 0.1, 0.5, 1.0),
        )
        self.up = True

    def answer(self, version: str, status: str, seconds: float, n: int = 1) -> None:
        for _ in range(n):
            self.requests.labels("iris", "m", version, "champion", status).inc()
            self.latency.labels("iris", "m", version, "champion").observe(seconds)

    def transport(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            if not self.up:
                raise httpx.ConnectError("refused", request=request)
            return httpx.Response(200, content=generate_latest(self.registry))

        return httpx.MockTransport(handle)


@pytest.fixture
def server() -> Server:
    return Server()


@pytest.fixture
def source(server: Server) -> ScrapeSource:
    source = ScrapeSource(["http://model/metrics"], client=httpx.Client(transport=server.transport()))
    yield source
    source.close()


def test_error_rate_and_count_cover_only_the_window(server: Server, source: ScrapeSource) -> None:
    server.answer("2", "200", 0.02, n=50)
    source.scrape(now=100)
    server.answer("2", "200", 0.02, n=90)
    server.answer("2", "500", 0.02, n=10)
    source.scrape(now=110)
    labels = queries.version_labels("iris", "2")
    assert source.query(queries.error_rate(labels, 10)) == pytest.approx(0.1)
    assert source.query(queries.request_count(labels, 10)) == pytest.approx(100)
    assert source.query(queries.request_rate(labels, 10)) == pytest.approx(10)


def test_no_errors_is_zero_not_no_data(server: Server, source: ScrapeSource) -> None:
    source.scrape(now=0)
    server.answer("2", "200", 0.02, n=5)
    source.scrape(now=1)
    assert (
        source.query(queries.error_rate(queries.version_labels("iris", "2"), 1)) == 0.0
    )


def test_a_version_without_traffic_has_no_data(server: Server, source: ScrapeSource) -> None:
    server.answer("1", "200", 0.02)
    source.scrape(now=0)
    source.scrape(now=1)
    assert (
        source.query(queries.error_rate(queries.version_labels("iris", "9"), 1)) is None
    )


def test_one_scrape_is_not_enough(source: ScrapeSource) -> None:
    source.scrape(now=0)
    assert source.query(queries.request_count({"deployment": "iris"}, 5)) is None


def test_p99_interpolates_inside_the_bucket_like_prometheus(server: Server, source: ScrapeSource) -> None:
    source.scrape(now=0)
    server.answer("2", "200", 0.02, n=98)
    server.answer("2", "200", 0.3, n=2)
    source.scrape(now=5)
    p99 = source.query(queries.latency_quantile(queries.version_labels("iris", "2"), 5))
    # rank 99 of 100 falls in (0.1, 0.5] holding ranks 99-100: 0.1 + 0.4 * (99 - 98) / 2.
    assert p99 == pytest.approx(0.3)


def test_window_picks_the_snapshot_a_window_back(server: Server, source: ScrapeSource) -> None:
    for t in range(5):
        server.answer("2", "500" if t >= 3 else "200", 0.02, n=10)
        source.scrape(now=float(t))
    labels = queries.version_labels("iris", "2")
    assert source.query(queries.error_rate(labels, 1)) == 1.0
    assert source.query(queries.error_rate(labels, 4)) == pytest.approx(0.5)


def test_an_unreachable_target_is_recorded_and_skipped(server: Server, source: ScrapeSource) -> None:
    server.up = False
    snapshot = source.scrape(now=0)
    assert snapshot.samples == {} and "http://model/metrics" in source.failures


def test_counter_reset_counts_the_new_value() -> None:
    key = ("c_total", frozenset({("deployment", "d")}))
    value = evaluate(
        queries.request_count({"deployment": "d"}, 5, metric="c_total"),
        snapshots=[Snapshot(at=0, samples={key: 50}), Snapshot(at=5, samples={key: 7})],
    )
    assert first_value(value) == 7


def test_other_promql_is_refused_with_a_hint() -> None:
    with pytest.raises(SpecError, match="needs a Prometheus URL"):
        evaluate(queries.PromQL("avg_over_time(up[5m])"), snapshots=[Snapshot(at=0, samples={})])


def test_parse_exposition_keys_by_name_and_labels(server: Server) -> None:
    server.answer("2", "200", 0.02)
    samples = parse_exposition(generate_latest(server.registry).decode(), instance="http://model/metrics")
    key = (
        "kubeloop_requests_total",
        frozenset(
            {
                ("deployment", "iris"),
                ("model", "m"),
                ("version", "2"),
                ("role", "champion"),
                ("status", "200"),
                ("instance", "http://model/metrics"),
            }
        ),
    )
    assert samples[key] == 1.0


def test_every_failed_scrape_is_counted_and_exported(server: Server) -> None:
    from kubeloop.controller.telemetry import RolloutMetrics

    telemetry = RolloutMetrics()
    source = ScrapeSource(["http://model/metrics"], client=httpx.Client(transport=server.transport()),
                          on_failure=telemetry.scrape_failed("iris"))
    server.up = False
    source.scrape(now=0)
    source.scrape(now=1)
    server.up = True
    source.scrape(now=2)
    source.close()
    assert source.failed["http://model/metrics"] == 2 and source.failures == {}
    exported = telemetry.registry.get_sample_value(
        "kubeloop_local_scrape_failures_total", {"deployment": "iris", "target": "http://model/metrics"}
    )
    assert exported == 2
