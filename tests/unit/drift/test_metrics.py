"""Drift metrics: names from telemetry, absent series for undecided checks, Pushgateway outcomes."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import pytest

from kubeloop.drift.metrics import PREDICTION_FEATURE, DriftMetrics
from kubeloop.drift.results import DriftResult, FeatureDrift, undecided
from kubeloop.telemetry import names


def decided() -> DriftResult:
    features = (
        FeatureDrift(feature="a", kind="numeric", method="ks", score=0.001, threshold=0.05, drifted=True),
        FeatureDrift(feature="b", kind="numeric", method="ks", score=0.7, threshold=0.05, drifted=False),
    )
    prediction = FeatureDrift(
        feature="prediction",
        kind="categorical",
        method="chisquare_2samp",
        score=0.2,
        threshold=0.05,
        drifted=False,
    )
    return DriftResult(
        status="drift",
        reason="1 of 2",
        rows=900,
        features=features,
        prediction=prediction,
        drift_share=0.5,
        threshold=0.3,
    )


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_decided_check_exports_share_detected_scores_and_rows() -> None:
    metrics = DriftMetrics()
    metrics.record(deployment="iris", model="iris", version="3", result=decided(), now=1234.0)

    found = samples(metrics.exposition())

    labels = {("deployment", "iris"), ("model", "iris"), ("version", "3")}
    assert found[(names.DRIFT_SHARE, frozenset(labels))] == 0.5
    assert found[(names.DRIFT_DETECTED, frozenset(labels))] == 1.0
    assert found[(names.DRIFT_ROWS, frozenset(labels))] == 900.0
    assert found[(names.DRIFT_SCORE, frozenset({*labels, ("feature", "a")}))] == 0.001
    assert found[(names.DRIFT_SCORE, frozenset({*labels, ("feature", PREDICTION_FEATURE)}))] == 0.2
    assert found[(names.DRIFT_LAST_RUN, frozenset({("deployment", "iris")}))] == 1234.0


def test_undecided_check_replaces_old_series_and_exports_no_verdict() -> None:
    metrics = DriftMetrics()
    metrics.record(deployment="iris", model="iris", version="3", result=decided(), now=1.0)
    metrics.record(
        deployment="iris",
        model="iris",
        version="3",
        result=undecided("not_enough_data", "12 rows", rows=12),
        now=2.0,
    )

    text = metrics.exposition()

    assert f"{names.DRIFT_SHARE}{{" not in text
    assert f"{names.DRIFT_DETECTED}{{" not in text
    assert f"{names.DRIFT_SCORE}{{" not in text
    assert (
        samples(text)[
            (names.DRIFT_ROWS, frozenset({("deployment", "iris"), ("model", "iris"), ("version", "3")}))
        ]
        == 12.0
    )


def test_unreachable_pushgateway_is_reported_not_raised() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    metrics = DriftMetrics()
    metrics.record(deployment="iris", model="iris", version="1", result=decided(), now=1.0)

    outcome = metrics.push(url=f"http://127.0.0.1:{port}", deployment="iris", timeout=2.0)

    assert not outcome.ok
    assert outcome.message.startswith(f"Pushgateway http://127.0.0.1:{port} unreachable:")


@pytest.fixture
def fake_pushgateway() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    received: list[tuple[str, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:  # http.server's naming
            received.append((self.path, self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", received
    server.shutdown()
    server.server_close()


def test_push_groups_by_deployment(fake_pushgateway: tuple[str, list[tuple[str, bytes]]]) -> None:
    url, received = fake_pushgateway
    metrics = DriftMetrics()
    metrics.record(deployment="iris", model="iris", version="1", result=decided(), now=1.0)

    outcome = metrics.push(url=url, deployment="iris")

    assert outcome.ok
    assert received[0][0] == "/metrics/job/kubeloop-drift/deployment/iris"
    assert names.DRIFT_SHARE.encode() in received[0][1]


def test_metrics_are_served_on_http() -> None:
    metrics = DriftMetrics()
    metrics.record(deployment="iris", model="iris", version="1", result=decided(), now=1.0)
    server, port = metrics.serve(port=0)
    try:
        body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        server.shutdown()  # type: ignore[attr-defined]
        server.server_close()  # type: ignore[attr-defined]

    assert names.DRIFT_DETECTED in body
