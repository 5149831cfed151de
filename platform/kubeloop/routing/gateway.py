"""The TrafficRouter of the kubeloop gateway: routes go to its admin API, backends named by version.

`GatewayRouter` is the admin client of the whole gateway (every deployment's routes); a rollout
drives one deployment through `GatewayRouter.bound(name)`, which is the TrafficRouter. Versions are
turned into server URLs by a resolver; in local mode that is the process records of `kubeloop.local`
(a version must have a running server before traffic can go to it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import httpx

from kubeloop.errors import BackendUnavailable, KubeloopError, NotFoundError
from kubeloop.routing.base import RouteChange, Routes
from kubeloop.settings import Settings

# (deployment, version) -> (registered model name, server base URL)
Resolver = Callable[[str, str], tuple[str, str]]


class GatewayRouter:
    """Sets and reads a deployment's routes through the gateway's bearer-token admin API."""

    def __init__(self, *, admin_url: str, token: str, resolve: Resolver, timeout: float = 10.0) -> None:
        self.admin_url = admin_url.rstrip("/")
        self.resolve = resolve
        self._timeout = timeout
        self._headers = {"authorization": f"Bearer {token}"}

    @classmethod
    def from_settings(cls, settings: Settings) -> GatewayRouter:
        """The router of this home's local gateway, resolving versions to local server records."""
        from kubeloop.local.processes import gateway_record, gateway_token, server_records

        gateway = gateway_record(settings)
        if gateway is None:
            raise BackendUnavailable("the local gateway is not running; start it with `kubeloop deploy`")

        def resolve(deployment: str, version: str) -> tuple[str, str]:
            for record in server_records(settings, deployment):
                if record.version == str(version) and record.alive():
                    return record.model, record.url
            raise NotFoundError(f"no running model server for {deployment!r} version {version}")

        return cls(admin_url=gateway.url, token=gateway_token(settings), resolve=resolve)

    def set_routes(self, deployment: str, routes: Routes) -> None:
        """Replace the deployment's routes in one admin call (the gateway swaps them atomically)."""
        model, stable_url = self.resolve(deployment, routes.stable)
        document: dict[str, Any] = {
            "model": model,
            "stable": {"version": routes.stable, "url": stable_url},
            "canary_weight": routes.canary_weight,
            "shadow_percent": routes.shadow_percent,
        }
        for role in ("canary", "shadow"):
            version = getattr(routes, role)
            if version is not None:
                document[role] = {"version": version, "url": self.resolve(deployment, version)[1]}
        self._call("PUT", deployment, json=document)

    def get_routes(self, deployment: str) -> Routes | None:
        """What the gateway does now for the deployment, or None when it has no routes."""
        data = self.document(deployment)
        if data is None:
            return None
        return Routes(
            stable=data["stable"]["version"],
            canary=(data.get("canary") or {}).get("version"),
            canary_weight=data.get("canary_weight", 0),
            shadow=(data.get("shadow") or {}).get("version"),
            shadow_percent=data.get("shadow_percent", 0),
        )

    def bound(self, deployment: str) -> GatewayDeploymentRouter:
        """The TrafficRouter of one deployment on this gateway."""
        return GatewayDeploymentRouter(gateway=self, deployment=deployment)

    def document(self, deployment: str) -> dict[str, Any] | None:
        """The deployment's route as the gateway holds it (backend URLs included), or None."""
        data = self._call("GET", deployment, missing_ok=True)
        return None if data is None else dict(data)

    def reroute(self, deployment: str) -> bool:
        """Point each routed version at the server running it now; True when a URL had to change.

        Routes name versions, but the gateway sends to URLs: a server restarted elsewhere leaves
        them pointing at a dead port. A version with no running server keeps its URL.
        """
        document = self.document(deployment)
        if document is None:
            return False
        moved = dict(document)
        for role in ("stable", "canary", "shadow"):
            backend = document.get(role)
            with contextlib.suppress(NotFoundError):
                if backend:
                    moved[role] = {**backend, "url": self.resolve(deployment, backend["version"])[1]}
        if moved == document:
            return False
        self._call("PUT", deployment, json=moved)
        return True

    def delete_routes(self, deployment: str) -> None:
        """Forget the deployment's routes."""
        self._call("DELETE", deployment)

    def _call(self, method: str, deployment: str, *, json: Any = None, missing_ok: bool = False) -> Any:
        url = f"{self.admin_url}/admin/routes/{deployment}"
        try:
            # One short-lived connection per call: admin calls are a few per rollout step, and a router
            # then owns nothing its many short-lived users (CLI commands, status pages) must close.
            with httpx.Client(timeout=self._timeout, headers=self._headers) as client:
                response = client.request(method, url, json=json)
        except httpx.HTTPError as error:
            raise BackendUnavailable(f"gateway admin API at {self.admin_url} unreachable: {error}") from None
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code != 200:
            raise KubeloopError(
                f"gateway refused {method} routes for {deployment!r}: "
                f"{response.status_code} {response.text.strip()}"
            )
        return response.json()


class GatewayDeploymentRouter:
    """One deployment's routes on the gateway; a promotion or rollback is one atomic swap like any step."""

    def __init__(self, *, gateway: GatewayRouter, deployment: str) -> None:
        self.gateway, self.deployment = gateway, deployment

    def set_routes(self, routes: Routes, *, change: RouteChange = RouteChange.STEP) -> None:
        """Replace the deployment's routes in one admin call."""
        self.gateway.set_routes(self.deployment, routes)

    def get_routes(self) -> Routes | None:
        """The deployment's routes as the gateway holds them."""
        return self.gateway.get_routes(self.deployment)
