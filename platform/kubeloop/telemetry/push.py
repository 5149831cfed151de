"""Pushing a registry to a Pushgateway, for jobs that end before Prometheus would scrape them."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry


@dataclass(frozen=True, kw_only=True)
class Pushed:
    """Whether the Pushgateway took the metrics; the message says where, or why not."""

    ok: bool
    message: str


def push(registry: CollectorRegistry, *, url: str, job: str, grouping: dict[str, str],
         timeout: float = 5.0) -> Pushed:
    """Replace the group's metrics on the Pushgateway; an unreachable one is reported, never raised."""
    from prometheus_client import push_to_gateway

    try:
        push_to_gateway(url, job=job, grouping_key=grouping, registry=registry, timeout=timeout)
    except Exception as error:  # noqa: BLE001 - urllib raises many kinds; any means "not pushed"
        return Pushed(ok=False, message=f"Pushgateway {url} unreachable: {type(error).__name__}: {error}")
    return Pushed(ok=True, message=f"pushed to {url}")
