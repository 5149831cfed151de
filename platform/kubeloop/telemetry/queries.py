"""The PromQL behind every rollout check, written once: analysis, alert rules and dashboards use these.

Each function takes label matchers and a range such as "1m" (or "$__rate_interval" in a dashboard)
and returns a PromQL expression. Matcher values starting with "~" become regex matchers.
The scrape-based metric source evaluates exactly these shapes, so local mode and Prometheus agree.
"""

from __future__ import annotations

from collections.abc import Mapping

from kubeloop.telemetry.names import (
    GATEWAY_RETRIES_TOTAL,
    REQUEST_DURATION,
    REQUESTS_TOTAL,
)

ERROR_STATUS = "~5..|error"


def selector(labels: Mapping[str, str]) -> str:
    """`{a="x",b=~"y"}` from a mapping; a value starting with "~" is a regular expression."""
    parts = []
    for name, value in labels.items():
        op, text = ("=~", value[1:]) if value.startswith("~") else ("=", value)
        parts.append(f'{name}{op}"{text}"')
    return "{" + ",".join(parts) + "}"


def range_of(seconds: float) -> str:
    """A PromQL range for a window in seconds: whole seconds, at least one."""
    return f"{max(1, round(seconds))}s"


def request_count(labels: Mapping[str, str], window: str, *, metric: str = REQUESTS_TOTAL) -> str:
    """Requests answered over the window."""
    return f"sum(increase({metric}{selector(labels)}[{window}]))"


def request_rate(labels: Mapping[str, str], window: str, *, metric: str = REQUESTS_TOTAL) -> str:
    """Requests per second over the window."""
    return f"sum(rate({metric}{selector(labels)}[{window}]))"


def error_rate(labels: Mapping[str, str], window: str, *, metric: str = REQUESTS_TOTAL) -> str:
    """Share of requests that failed (5xx or no answer) over the window."""
    # Without `or vector(0)` a window with no error series at all would read as "no data", not as 0.
    errors = request_rate({**labels, "status": ERROR_STATUS}, window, metric=metric)
    return f"({errors} or vector(0)) / {request_rate(labels, window, metric=metric)}"


def latency_quantile(
    labels: Mapping[str, str], window: str, *, quantile: float = 0.99, metric: str = REQUEST_DURATION
) -> str:
    """A latency quantile (seconds) from the request-duration histogram."""
    buckets = f"sum by (le) (rate({metric}_bucket{selector(labels)}[{window}]))"
    return f"histogram_quantile({quantile:g}, {buckets})"


def latency_p99_ratio(
    challenger: Mapping[str, str], champion: Mapping[str, str], window: str, *, metric: str = REQUEST_DURATION
) -> str:
    """The challenger's p99 latency divided by the champion's over the same window."""
    ours = latency_quantile(challenger, window, metric=metric)
    theirs = latency_quantile(champion, window, metric=metric)
    return f"{ours} / {theirs}"


def retry_count(deployment: str, window: str, *, metric: str = GATEWAY_RETRIES_TOTAL) -> str:
    """Requests the gateway retried on stable because the canary refused them (a canary failure)."""
    return request_count({"deployment": deployment}, window, metric=metric)


def version_labels(deployment: str, version: str) -> dict[str, str]:
    """Matchers for one model version of a deployment, whatever role it plays."""
    return {"deployment": deployment, "version": str(version)}
