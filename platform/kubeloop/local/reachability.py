"""What a request to a local deployment would reach: each server probed where the gateway sends to it.

`serve status` used to report a server `running` when its process existed, while the gateway sent
requests to a port nobody listened on. Here a server is `running` only when the URL the gateway
routes its version to answers the readiness probe; otherwise the row says `unreachable` and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from kubeloop.settings import Settings

PROBE_PATH = "/v2/health/ready"
PROBE_TIMEOUT_S = 2.0
COLUMNS = ("deployment", "version", "runtime", "state", "url", "traffic")


@dataclass(frozen=True, kw_only=True)
class ServerRow:
    """One version of a deployment: its server, what a request to it would meet, its traffic share."""

    deployment: str
    version: str
    runtime: str
    state: str
    url: str
    traffic: str

    def cells(self) -> list[str]:
        """The row in COLUMNS order."""
        return [self.deployment, self.version, self.runtime, self.state, self.url, self.traffic]


def probe(url: str, *, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None when `url` answers the readiness probe with 200, else why not."""
    try:
        response = httpx.get(url + PROBE_PATH, timeout=timeout)
    except httpx.ConnectError:
        return "connection refused"
    except httpx.TimeoutException:
        return f"no answer within {timeout:g}s"
    except httpx.HTTPError as error:
        return f"{type(error).__name__}: {error}"
    return None if response.status_code == 200 else f"readiness answered {response.status_code}"


def server_state(*, alive: bool, listens: str | None, routed: str | None, problem: str | None) -> str:
    """The state of one version's server from what was observed (pure)."""
    if not alive:
        return "stopped" if routed is None else "unreachable: its server is not running"
    if routed is not None and routed != listens:
        return f"unreachable: the gateway sends to {routed}, the server listens on {listens}"
    return "running" if problem is None else f"unreachable: {problem}"


def traffic_share(document: dict[str, Any] | None, version: str) -> str:
    """The version's share of the route: stable, canary and shadow percentages, or idle (pure)."""
    if document is None:
        return "-"
    parts = []
    weight = int(document.get("canary_weight") or 0)
    if _version(document, "stable") == version:
        parts.append(f"stable {100 - weight}%")
    if _version(document, "canary") == version:
        parts.append(f"canary {weight}%")
    if _version(document, "shadow") == version:
        parts.append(f"shadow {int(document.get('shadow_percent') or 0)}%")
    return ", ".join(parts) or "idle"


def routed_urls(document: dict[str, Any] | None) -> dict[str, str]:
    """Version -> the URL the gateway sends that version's requests to (pure)."""
    if document is None:
        return {}
    backends = (document.get(role) for role in ("stable", "canary", "shadow"))
    return {str(b["version"]): str(b["url"]) for b in backends if b}


def status_rows(settings: Settings) -> list[ServerRow]:
    """One row per server and per routed version without one, for every deployed name."""
    from kubeloop.local import processes
    from kubeloop.routing.gateway import GatewayRouter

    router = GatewayRouter.from_settings(settings) if processes.gateway_record(settings) else None
    rows = []
    for name in processes.deployed_names(settings):
        document = router.document(name) if router is not None else None
        routed = routed_urls(document)
        for record in processes.server_records(settings, name):
            alive, target = record.alive(), routed.pop(record.version, None)
            problem = probe(target or record.url) if alive and target in (None, record.url) else None
            state = server_state(alive=alive, listens=record.url, routed=target, problem=problem)
            rows.append(ServerRow(deployment=name, version=record.version, runtime=record.kind, state=state,
                                  url=record.url, traffic=traffic_share(document, record.version)))
        rows += [ServerRow(deployment=name, version=version, runtime="-", url=url,
                           state=f"unreachable: no server runs version {version}",
                           traffic=traffic_share(document, version)) for version, url in routed.items()]
    return rows


def _version(document: dict[str, Any], role: str) -> str | None:
    backend = document.get(role)
    return str(backend["version"]) if backend else None
