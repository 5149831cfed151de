"""Choose the TrafficRouter for a deployment by its spec's `router` field (as Flagger's factory)."""

from __future__ import annotations

from kubeloop.errors import SpecError
from kubeloop.k8s.api import KubeApi
from kubeloop.k8s.config import ClusterConfig
from kubeloop.routing.base import TrafficRouter
from kubeloop.spec import ModelDeployment


def cluster_router(deployment: ModelDeployment, *, api: KubeApi, config: ClusterConfig) -> TrafficRouter:
    """The Kubernetes router named by `spec.router`: kserve, istio or gateway-api."""
    router = deployment.spec.router
    if router == "kserve":
        from kubeloop.routing.kserve import KServeRouter

        return KServeRouter(deployment=deployment, api=api, config=config)
    if router == "istio":
        from kubeloop.routing.istio import IstioRouter

        return IstioRouter(deployment=deployment, api=api, config=config)
    if router == "gateway-api":
        from kubeloop.routing.gateway_api import GatewayApiRouter

        return GatewayApiRouter(deployment=deployment, api=api, config=config)
    raise SpecError(f"spec.router: {router!r} has no Kubernetes router; use kserve, istio or gateway-api")
