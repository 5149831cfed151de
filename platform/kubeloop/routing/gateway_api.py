"""TrafficRouter on the Gateway API: HTTPRoute backend weights, shadow by a RequestMirror filter percent."""

from __future__ import annotations

from typing import Any

from kubeloop.k8s import gateway_api
from kubeloop.k8s.api import KubeApi, Ref
from kubeloop.k8s.config import ClusterConfig
from kubeloop.routing.base import RouteChange, Routes
from kubeloop.spec import ModelDeployment


class GatewayApiRouter:
    """Routes of one ModelDeployment in the first rule of its HTTPRoute."""

    def __init__(self, *, deployment: ModelDeployment, api: KubeApi, config: ClusterConfig) -> None:
        self.deployment, self.api, self.config = deployment, api, config
        self.ref = Ref(
            group=gateway_api.GROUP,
            version=gateway_api.VERSION,
            plural=gateway_api.PLURAL,
            namespace=deployment.metadata.namespace,
            name=deployment.name,
        )

    def set_routes(self, routes: Routes, *, change: RouteChange = RouteChange.STEP) -> None:
        """Replace the first rule's backends and mirror filter; create the HTTPRoute if there is none."""
        if self.api.get(self.ref) is None:
            self.api.create(self.ref, gateway_api.http_route(self.deployment, routes, config=self.config))
            return
        self.api.update(
            self.ref, lambda route: _with_rule(route, gateway_api.rules(self.deployment, routes)[0])
        )

    def get_routes(self) -> Routes | None:
        """Read the backend weights and the mirror percent back from the HTTPRoute."""
        route = self.api.get(self.ref)
        return None if route is None else gateway_api.routes_from_http_route(self.deployment, route)


def _with_rule(route: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any] | None:
    rules = route.setdefault("spec", {}).get("rules") or [{}]
    if rules[0] == ours:
        return None
    route["spec"]["rules"] = [ours, *rules[1:]]
    return route
