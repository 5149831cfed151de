"""The gateway's drop and retry counters exist at 0 as soon as a route can drop or retry."""

from __future__ import annotations

import json
from pathlib import Path

from prometheus_client import generate_latest

from kubeloop.serving.gateway.app import Gateway


def exposition(tmp_path: Path, route: dict[str, object]) -> str:
    routes = tmp_path / "routes.json"
    routes.write_text(json.dumps({"iris": route}))
    return generate_latest(Gateway(token="t", routes_file=routes).metrics.registry).decode()


def backend(version: str, port: int) -> dict[str, str]:
    return {"version": version, "url": f"http://127.0.0.1:{port}"}


def test_a_shadow_and_a_canary_start_their_counters_at_zero(tmp_path: Path) -> None:
    text = exposition(tmp_path, {"model": "m", "stable": backend("1", 9001), "canary": backend("2", 9002),
                                 "canary_weight": 10, "shadow": backend("3", 9003), "shadow_percent": 50})
    assert 'kubeloop_gateway_mirror_dropped_total{deployment="iris"} 0.0' in text
    assert 'kubeloop_gateway_retries_total{deployment="iris"} 0.0' in text


def test_a_stable_only_route_has_no_drop_or_retry_series(tmp_path: Path) -> None:
    text = exposition(tmp_path, {"model": "m", "stable": backend("1", 9001)})
    assert "kubeloop_gateway_mirror_dropped_total{" not in text
    assert "kubeloop_gateway_retries_total{" not in text
