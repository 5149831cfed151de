"""Gateway API objects for a deployment: an HTTPRoute with weighted backends and a RequestMirror filter."""

from __future__ import annotations

from typing import Any

from kubeloop.k8s.config import ClusterConfig
from kubeloop.k8s.meta import object_meta, version_isvc_name, version_of_predictor
from kubeloop.routing.base import Routes
from kubeloop.spec import ModelDeployment

API_VERSION = "gateway.networking.k8s.io/v1"
GROUP, VERSION, PLURAL = "gateway.networking.k8s.io", "v1", "httproutes"


def _backend(deployment: ModelDeployment, version: str) -> dict[str, Any]:
    return {"name": f"{version_isvc_name(deployment, version)}-predictor", "port": 80}


def rules(deployment: ModelDeployment, routes: Routes) -> list[dict[str, Any]]:
    """The `spec.rules` for these routes; the stable backend is always first so reading back is exact."""
    backends = [{**_backend(deployment, routes.stable), "weight": 100 - routes.canary_weight}]
    if routes.canary is not None:
        backends.append({**_backend(deployment, routes.canary), "weight": routes.canary_weight})
    rule: dict[str, Any] = {
        "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
        "backendRefs": backends,
    }
    if routes.shadow is not None and routes.shadow_percent:
        rule["filters"] = [
            {
                "type": "RequestMirror",
                "requestMirror": {
                    "backendRef": _backend(deployment, routes.shadow),
                    "percent": routes.shadow_percent,
                },
            }
        ]
    return [rule]


def http_route(
    deployment: ModelDeployment, routes: Routes, *, config: ClusterConfig, owner_uid: str | None = None
) -> dict[str, Any]:
    """The deployment's HTTPRoute attached to the configured Gateway."""
    namespace = deployment.metadata.namespace
    return {
        "apiVersion": API_VERSION,
        "kind": "HTTPRoute",
        "metadata": object_meta(deployment, name=deployment.name, owner_uid=owner_uid),
        "spec": {
            "parentRefs": [{"name": config.gateway_name, "namespace": config.gateway_namespace}],
            "hostnames": [config.host(name=deployment.name, namespace=namespace)],
            "rules": rules(deployment, routes),
        },
    }


def routes_from_http_route(deployment: ModelDeployment, route: dict[str, Any]) -> Routes | None:
    """Read back the routes an HTTPRoute carries (the inverse of `rules`)."""
    found = route.get("spec", {}).get("rules", [])
    if not found:
        return None
    backends = [
        (version_of_predictor(deployment, b["name"]), int(b.get("weight", 1)))
        for b in found[0].get("backendRefs", [])
    ]
    if not backends or backends[0][0] is None:
        return None
    canary = backends[1] if len(backends) > 1 else (None, 0)
    mirror = next(
        (f["requestMirror"] for f in found[0].get("filters", []) if f.get("type") == "RequestMirror"), None
    )
    shadow = version_of_predictor(deployment, mirror["backendRef"]["name"]) if mirror else None
    return Routes(
        stable=backends[0][0],
        canary=canary[0],
        canary_weight=canary[1] if canary[0] else 0,
        shadow=shadow,
        shadow_percent=int(mirror.get("percent", 100)) if mirror and shadow else 0,
    )
