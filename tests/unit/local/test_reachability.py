"""`serve status`'s pure parts: a server's state from what was observed, traffic shares, routed URLs."""

from __future__ import annotations

from kubeloop.local.reachability import routed_urls, server_state, traffic_share

ROUTE = {"stable": {"version": "1", "url": "http://127.0.0.1:9001"},
         "canary": {"version": "2", "url": "http://127.0.0.1:9002"}, "canary_weight": 25,
         "shadow": None, "shadow_percent": 0}


def test_running_only_when_the_routed_url_is_where_the_server_listens_and_it_answers() -> None:
    url = "http://127.0.0.1:9001"
    assert server_state(alive=True, listens=url, routed=url, problem=None) == "running"
    assert server_state(alive=True, listens=url, routed=None, problem=None) == "running"
    assert server_state(alive=True, listens=url, routed=url, problem="connection refused") == (
        "unreachable: connection refused")
    moved = server_state(alive=True, listens="http://127.0.0.1:9009", routed=url, problem=None)
    assert moved == "unreachable: the gateway sends to http://127.0.0.1:9001, the server listens on " \
                    "http://127.0.0.1:9009"
    assert server_state(alive=False, listens=url, routed=url, problem=None) == (
        "unreachable: its server is not running")
    assert server_state(alive=False, listens=url, routed=None, problem=None) == "stopped"


def test_traffic_shares_and_routed_urls_come_from_the_route_document() -> None:
    assert traffic_share(ROUTE, "1") == "stable 75%"
    assert traffic_share(ROUTE, "2") == "canary 25%"
    assert traffic_share(ROUTE, "3") == "idle"
    assert traffic_share(None, "1") == "-"
    assert routed_urls(ROUTE) == {"1": "http://127.0.0.1:9001", "2": "http://127.0.0.1:9002"}
    assert routed_urls(None) == {}
