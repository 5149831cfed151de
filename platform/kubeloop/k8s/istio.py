"""Istio objects for a deployment: a VirtualService splitting and mirroring traffic, DestinationRules.

Each model version runs as its own InferenceService (`<name>-v<version>`, RawDeployment); the
VirtualService weighs champion against challenger and mirrors a percent of requests to the shadow.
"""

from __future__ import annotations

from typing import Any

from kubeloop.k8s.config import ClusterConfig
from kubeloop.k8s.meta import object_meta, predictor_host, version_isvc_name, version_of_predictor
from kubeloop.routing.base import Routes
from kubeloop.spec import ModelDeployment

API_VERSION = "networking.istio.io/v1"
GROUP, VERSION = "networking.istio.io", "v1"
VS_PLURAL, DR_PLURAL = "virtualservices", "destinationrules"
ROUTE_NAME = "kubeloop"


def _destination(deployment: ModelDeployment, version: str) -> dict[str, Any]:
    host = predictor_host(
        isvc=version_isvc_name(deployment, version), namespace=deployment.metadata.namespace
    )
    return {"host": host, "port": {"number": 80}}


def http_routes(deployment: ModelDeployment, routes: Routes) -> list[dict[str, Any]]:
    """The `spec.http` list for these routes: weighted destinations, plus a mirror for the shadow."""
    # The stable destination always comes first, even at weight 0, so reading back is exact.
    weighted = [(routes.stable, 100 - routes.canary_weight)]
    if routes.canary is not None:
        weighted.append((routes.canary, routes.canary_weight))
    route: dict[str, Any] = {
        "name": ROUTE_NAME,
        "route": [{"destination": _destination(deployment, v), "weight": w} for v, w in weighted],
    }
    if routes.shadow is not None and routes.shadow_percent:
        route["mirror"] = _destination(deployment, routes.shadow)
        route["mirrorPercentage"] = {"value": float(routes.shadow_percent)}
    return [route]


def virtual_service(
    deployment: ModelDeployment, routes: Routes, *, config: ClusterConfig, owner_uid: str | None = None
) -> dict[str, Any]:
    """The deployment's VirtualService on the configured Istio gateway."""
    namespace = deployment.metadata.namespace
    return {
        "apiVersion": API_VERSION,
        "kind": "VirtualService",
        "metadata": object_meta(deployment, name=deployment.name, owner_uid=owner_uid),
        "spec": {
            "hosts": [config.host(name=deployment.name, namespace=namespace)],
            "gateways": [config.istio_gateway],
            "http": http_routes(deployment, routes),
        },
    }


def destination_rule(
    deployment: ModelDeployment, version: str, *, owner_uid: str | None = None
) -> dict[str, Any]:
    """Connection limits and outlier ejection for one version's predictor."""
    name = version_isvc_name(deployment, version)
    return {
        "apiVersion": API_VERSION,
        "kind": "DestinationRule",
        "metadata": object_meta(deployment, name=name, owner_uid=owner_uid, version=version),
        "spec": {
            "host": predictor_host(isvc=name, namespace=deployment.metadata.namespace),
            "trafficPolicy": {
                "connectionPool": {"http": {"http1MaxPendingRequests": 1024, "maxRequestsPerConnection": 0}},
                # Eject a failing pod quickly so a broken challenger shows up as errors, not timeouts.
                "outlierDetection": {"consecutive5xxErrors": 5, "interval": "10s", "baseEjectionTime": "30s"},
            },
        },
    }


def routes_from_virtual_service(deployment: ModelDeployment, vs: dict[str, Any]) -> Routes | None:
    """Read back the routes a VirtualService carries (the inverse of `http_routes`)."""
    http = next((h for h in vs.get("spec", {}).get("http", []) if h.get("name") == ROUTE_NAME), None)
    if http is None:
        return None
    weights = [
        (version_of_predictor(deployment, d["destination"]["host"]), int(d.get("weight", 100)))
        for d in http.get("route", [])
    ]
    if not weights or weights[0][0] is None:
        return None
    stable, canary = weights[0][0], weights[1] if len(weights) > 1 else (None, 0)
    shadow = version_of_predictor(deployment, http["mirror"]["host"]) if "mirror" in http else None
    percent = http.get("mirrorPercentage", {}).get("value", 100.0) if shadow else 0
    return Routes(
        stable=stable, canary=canary[0], canary_weight=canary[1], shadow=shadow, shadow_percent=round(percent)
    )
