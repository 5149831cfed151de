"""Choose a deployment's Kubernetes ports by its spec's `router` field (as Flagger's factory does)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubeloop.errors import SpecError
from kubeloop.k8s.api import KubeApi
from kubeloop.k8s.config import ClusterConfig
from kubeloop.routing.base import ModelServers, Routes, TrafficRouter
from kubeloop.spec import ModelDeployment


@dataclass(frozen=True, kw_only=True)
class ClusterBackend:
    """One deployment's ports in a cluster, and the objects the operator keeps applied for given routes."""

    router: TrafficRouter
    servers: ModelServers
    objects: Callable[[Routes], list[dict[str, Any]]]
    refusal: str | None = None  # why this backend cannot split the deployment's traffic, if it cannot


def cluster_backend(
    deployment: ModelDeployment, *, api: KubeApi, config: ClusterConfig, owner_uid: str | None = None
) -> ClusterBackend:
    """The backend named by `spec.router`: kserve (in its InferenceService's mode), istio or gateway-api."""
    from kubeloop.k8s.render import drift_job, mesh_objects

    def with_drift_job(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [*found, drift_job(deployment, config=config, owner_uid=owner_uid)]

    router = deployment.spec.router
    if router == "kserve":
        from kubeloop.k8s.kserve.router import kserve_backend

        kserve = kserve_backend(deployment, api=api, config=config, owner_uid=owner_uid)
        return ClusterBackend(
            router=kserve.router,
            servers=kserve.servers,
            objects=lambda routes: with_drift_job(kserve.router.desired(routes)),
            refusal=kserve.refusal,
        )
    mesh = _mesh_router(deployment, api=api, config=config)
    from kubeloop.k8s.mesh import MeshServers

    return ClusterBackend(
        router=mesh,
        servers=MeshServers(deployment=deployment, api=api, config=config, router=mesh, owner_uid=owner_uid),
        objects=lambda routes: with_drift_job(
            mesh_objects(deployment, routes, config=config, owner_uid=owner_uid)
        ),
    )


def _mesh_router(deployment: ModelDeployment, *, api: KubeApi, config: ClusterConfig) -> TrafficRouter:
    router = deployment.spec.router
    if router == "istio":
        from kubeloop.routing.istio import IstioRouter

        return IstioRouter(deployment=deployment, api=api, config=config)
    if router == "gateway-api":
        from kubeloop.routing.gateway_api import GatewayApiRouter

        return GatewayApiRouter(deployment=deployment, api=api, config=config)
    raise SpecError(f"spec.router: {router!r} has no Kubernetes router; use kserve, istio or gateway-api")
