"""Keeping the local gateway's routes on the servers running now: on deploy, on gateway start, after restarts.

The routes file the gateway saves remembers versions and the URLs they had; a server started again
listens on another port. Nothing trusts those URLs: every deploy, every gateway start and every
supervisor turn re-resolves each routed version against the live process records.
"""

from __future__ import annotations

from kubeloop.errors import BackendUnavailable
from kubeloop.routing.base import Routes
from kubeloop.settings import Settings


def route_stable(settings: Settings, deployment: str, version: str) -> None:
    """What `deploy` wants: `version` stable (a new route if it was not), every URL current."""
    from kubeloop.routing.gateway import GatewayRouter

    router = GatewayRouter.from_settings(settings)
    current = router.get_routes(deployment)
    if current is None or current.stable != version:
        router.set_routes(deployment, Routes(stable=version))
    else:
        router.reroute(deployment)


def reroute_all(settings: Settings) -> list[str]:
    """Re-resolve the routes of every deployed name; returns those whose URLs changed."""
    from kubeloop.local.processes import deployed_names
    from kubeloop.routing.gateway import GatewayRouter

    try:
        router = GatewayRouter.from_settings(settings)
    except BackendUnavailable:
        return []
    return [name for name in deployed_names(settings) if router.reroute(name)]
