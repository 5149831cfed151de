"""TrafficRouter on Istio: VirtualService weights between version services, shadow by `mirror`."""

from __future__ import annotations

from typing import Any

from kubeloop.k8s import istio
from kubeloop.k8s.api import KubeApi, Ref
from kubeloop.k8s.config import ClusterConfig
from kubeloop.routing.base import RouteChange, Routes
from kubeloop.spec import ModelDeployment


class IstioRouter:
    """Routes of one ModelDeployment in its VirtualService's `kubeloop` HTTP route."""

    def __init__(self, *, deployment: ModelDeployment, api: KubeApi, config: ClusterConfig) -> None:
        self.deployment, self.api, self.config = deployment, api, config
        self.ref = Ref(
            group=istio.GROUP,
            version=istio.VERSION,
            plural=istio.VS_PLURAL,
            namespace=deployment.metadata.namespace,
            name=deployment.name,
        )

    def set_routes(self, routes: Routes, *, change: RouteChange = RouteChange.STEP) -> None:
        """Replace the `kubeloop` route (weights, mirror), keep the others; create the VirtualService."""
        if self.api.get(self.ref) is None:
            self.api.create(self.ref, istio.virtual_service(self.deployment, routes, config=self.config))
            return
        self.api.update(self.ref, lambda vs: _with_routes(vs, istio.http_routes(self.deployment, routes)))

    def get_routes(self) -> Routes | None:
        """Read the weights and the mirror back from the VirtualService."""
        vs = self.api.get(self.ref)
        return None if vs is None else istio.routes_from_virtual_service(self.deployment, vs)


def _with_routes(vs: dict[str, Any], ours: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The VirtualService with our route replaced in place (routes others added stay, in order)."""
    http = vs.setdefault("spec", {}).get("http", [])
    names = [route.get("name") for route in http]
    if istio.ROUTE_NAME in names:
        index = names.index(istio.ROUTE_NAME)
        if http[index] == ours[0]:
            return None
        http[index] = ours[0]
    else:
        http.append(ours[0])
    vs["spec"]["http"] = http
    return vs
