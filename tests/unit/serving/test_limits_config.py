"""HTTP limits from flags and the environment, and the BentoML recycling rule."""

from __future__ import annotations

import argparse

import pytest

from kubeloop.serving.bentoml_runtime.recycling import RecyclePolicy, recycle_reason
from kubeloop.serving.core.limits import GATEWAY_PREFIX, HttpLimits


def test_limits_come_from_the_environment_then_flags() -> None:
    env = {"KUBELOOP_GATEWAY_HEADER_TIMEOUT": "2.5", "KUBELOOP_GATEWAY_MAX_CONNECTIONS": "50"}
    limits = HttpLimits.from_env(GATEWAY_PREFIX, env)
    assert (limits.header_timeout, limits.max_connections, limits.idle_timeout) == (2.5, 50, 60.0)
    parser = argparse.ArgumentParser()
    HttpLimits.add_arguments(parser)
    flagged = limits.with_arguments(parser.parse_args(["--max-connections", "7"]))
    assert (flagged.max_connections, flagged.header_timeout) == (7, 2.5)
    assert HttpLimits.from_env(GATEWAY_PREFIX, limits.to_env(GATEWAY_PREFIX)) == limits


def test_a_bad_limit_is_named() -> None:
    with pytest.raises(ValueError, match="KUBELOOP_GATEWAY_MAX_BODY: expected a int, got 'lots'"):
        HttpLimits.from_env(GATEWAY_PREFIX, {"KUBELOOP_GATEWAY_MAX_BODY": "lots"})
    with pytest.raises(ValueError, match="idle_timeout must be positive"):
        HttpLimits(idle_timeout=0)


def test_a_worker_is_recycled_after_its_requests_or_above_its_memory() -> None:
    policy = RecyclePolicy(max_requests=1000, max_rss_mb=500)
    assert recycle_reason(policy, served=999, limit=1050, rss_mb=400) is None
    assert recycle_reason(policy, served=1050, limit=1050, rss_mb=400) == "served 1050 requests (limit 1050)"
    assert "over 500 MB" in (recycle_reason(policy, served=10, limit=1050, rss_mb=501) or "")
    assert recycle_reason(RecyclePolicy(), served=10**9, limit=0, rss_mb=10**6) is None


def test_recycling_a_single_worker_is_refused_naming_the_settings() -> None:
    RecyclePolicy().check(workers=1)
    RecyclePolicy(max_requests=10).check(workers=2)
    with pytest.raises(ValueError, match="need KUBELOOP_SERVE_WORKERS >= 2"):
        RecyclePolicy(max_rss_mb=100).check(workers=1)
