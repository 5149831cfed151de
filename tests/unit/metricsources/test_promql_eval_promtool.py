"""Local evaluation agrees with Prometheus: the same samples, our typed query evaluated locally and its
PromQL evaluated by promtool's engine (`promtool test rules` with the local values as expectations)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from kubeloop.devtools import find_tool
from kubeloop.metricsources.promql_eval import Snapshot, evaluate
from kubeloop.telemetry import queries

STEP = 60.0
SCRAPES = 11  # t = 0, 60, ..., 600 s; evaluated at 600 s
REQUESTS = "kubeloop_requests_total"
DURATION = "kubeloop_request_duration_seconds"
IRIS = {"deployment": "iris", "version": "2"}
# (labels, values at each scrape): two targets, a restart on one, a series that stops early,
# a counter still at zero when the window opens, and a histogram.
SERIES = [
    ({**IRIS, "status": "200", "instance": "a"}, [10.0 * i for i in range(SCRAPES)]),
    ({**IRIS, "status": "200", "instance": "b"}, [0, 10, 20, 30, 40, 50, 60, 5, 15, 25, 35]),
    ({**IRIS, "status": "500", "instance": "a"}, [0, 1, 2, 3, 4, 5, 6, 7]),
    ({**IRIS, "status": "500", "instance": "b"}, [0, 0, 0, 0, 0, 0, 0, 5, 10, 15, 20]),
]
BUCKETS = {"0.1": 6.0, "0.5": 9.0, "+Inf": 10.0}  # cumulative observations per scrape
WINDOWS = [270, 150]  # windows whose start falls between scrapes and on none of them


def _samples() -> list[tuple[str, dict[str, str], list[float]]]:
    found = [(REQUESTS, labels, values) for labels, values in SERIES]
    for le, per_scrape in BUCKETS.items():
        values = [per_scrape * i for i in range(SCRAPES)]
        found.append((f"{DURATION}_bucket", {**IRIS, "le": le, "instance": "a"}, values))
    return found


def _snapshots() -> list[Snapshot]:
    snapshots = []
    for index in range(SCRAPES):
        samples = {
            (name, frozenset(labels.items())): values[index]
            for name, labels, values in _samples()
            if index < len(values)
        }
        snapshots.append(Snapshot(at=index * STEP, samples=samples, targets=frozenset({"a", "b"})))
    return snapshots


def _cases() -> list[queries.Query]:
    cases: list[queries.Query] = []
    for window in WINDOWS:
        cases += [
            queries.request_count(IRIS, window),
            queries.request_rate(IRIS, window),
            queries.error_rate(IRIS, window),
            queries.request_rate(IRIS, window, by=("instance",)),
            queries.latency_quantile(IRIS, window),
            queries.latency_quantile(IRIS, window, quantile=0.5),
        ]
    return cases


def _series_text(name: str, labels: dict[str, str]) -> str:
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def test_local_values_are_prometheus_values(tmp_path: Path) -> None:
    snapshots = _snapshots()
    tests = []
    for query in _cases():
        vector = evaluate(query, snapshots=snapshots)
        assert vector, query.to_promql()
        expected = [{"labels": "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels)) + "}", "value": value}
                    for labels, value in vector.items()]
        tests.append({"expr": query.to_promql(), "eval_time": f"{int((SCRAPES - 1) * STEP)}s",
                      "exp_samples": expected})
    rules = tmp_path / "empty.yaml"
    rules.write_text("groups: []\n")
    suite = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [{"series": _series_text(name, labels), "values": " ".join(map(str, values))}
                             for name, labels, values in _samples()],
            "promql_expr_test": tests,
        }],
    }
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite))
    done = subprocess.run([str(find_tool("promtool")), "test", "rules", str(tmp_path / "suite.yaml")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_restart_of_one_target_resets_only_its_own_counter() -> None:
    """Summed before the increase, b's restart (60 -> 5) would read as a reset of the total."""
    vector = evaluate(queries.request_count({"status": "200"}, 600), snapshots=_snapshots())
    # a: 100 over the window; b: 60 before the restart + 35 after; the window is fully covered.
    assert vector == {frozenset(): pytest.approx(195.0)}


def test_a_series_appearing_inside_the_window_starts_from_zero() -> None:
    key = (REQUESTS, frozenset({("status", "500"), ("instance", "a")}))
    answered = frozenset({"a"})
    snapshots = [
        Snapshot(at=0, samples={}, targets=answered),
        Snapshot(at=10, samples={}, targets=answered),
        Snapshot(at=20, samples={key: 4.0}, targets=answered),
        Snapshot(at=30, samples={key: 9.0}, targets=answered),
    ]
    assert evaluate(queries.request_count({}, 30), snapshots=snapshots) == {frozenset(): 9.0}
    # The target did not answer the scrape before: no zero is assumed, Prometheus's half-interval guess.
    unanswered = [snapshots[0], Snapshot(at=10, samples={}), *snapshots[2:]]
    assert evaluate(queries.request_count({}, 30), snapshots=unanswered) == {frozenset(): 7.5}


def test_check_queries_render_the_promql_prometheus_reads() -> None:
    labels = queries.version_labels("iris", "2")
    assert queries.error_rate(labels, 60).to_promql() == (
        'sum(rate(kubeloop_requests_total{deployment="iris",version="2",status=~"5..|error"}[1m]))'
        ' or vector(0)) / sum(rate(kubeloop_requests_total{deployment="iris",version="2"}[1m]))'
    ).replace("sum(rate", "(sum(rate", 1)
    assert queries.latency_quantile(labels, 59.6).to_promql() == (
        'histogram_quantile(0.99, sum by (le) '
        '(rate(kubeloop_request_duration_seconds_bucket{deployment="iris",version="2"}[1m])))'
    )
    assert queries.retry_count("iris", 0.2).to_promql() == (
        'sum(increase(kubeloop_gateway_retries_total{deployment="iris"}[1s]))'
    )
