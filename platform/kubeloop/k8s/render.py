"""Every object the operator keeps for a deployment at given routes, computed by one pure function.

`desired_objects` is what the operator applies and what `kubeloop k8s render` prints; `routes_for_phase`
turns a phase name (shadow, canary:N, promoted) into the routes of that phase.
"""

from __future__ import annotations

from typing import Any

from kubeloop.errors import SpecError
from kubeloop.k8s import gateway_api, istio, jobs, kserve
from kubeloop.k8s.config import ClusterConfig
from kubeloop.k8s.meta import predictor_host, version_isvc_name
from kubeloop.routing.base import Routes
from kubeloop.spec import ModelDeployment

CLUSTER_ROUTERS = ("kserve", "istio", "gateway-api")


def check_router(deployment: ModelDeployment) -> str:
    """The deployment's router, refused when it only exists in local mode."""
    router = deployment.spec.router
    if router not in CLUSTER_ROUTERS:
        raise SpecError(
            f"spec.router: {router!r} is the local gateway; on Kubernetes use one of {CLUSTER_ROUTERS}"
        )
    return router


def routes_for_phase(deployment: ModelDeployment, phase: str, *, champion: str, challenger: str) -> Routes:
    """Routes of a phase: stable, shadow, canary:N (percent to the challenger) or promoted."""
    if phase == "stable":
        return Routes(stable=champion)
    if phase == "promoted":
        return Routes(stable=challenger)
    if phase == "shadow":
        shadow = deployment.spec.rollout.shadow
        if shadow is None:
            raise SpecError(
                "phase shadow: spec.rollout.shadow is null, so this deployment has no shadow phase"
            )
        return Routes(stable=champion, shadow=challenger, shadow_percent=shadow.percent)
    if phase.startswith("canary:"):
        weight = phase.removeprefix("canary:")
        if not weight.isdigit() or not 0 <= int(weight) <= 100:
            raise SpecError(f"phase {phase!r}: the canary weight must be a whole percent, 0 to 100")
        return Routes(stable=champion, canary=challenger, canary_weight=int(weight))
    raise SpecError(f"phase {phase!r}: expected stable, shadow, canary:N or promoted")


def shadow_isvc_name(deployment: ModelDeployment) -> str:
    """With the KServe router the shadow runs beside the main InferenceService under this name."""
    return f"{deployment.name}-shadow"


def mirror_url(deployment: ModelDeployment, isvc: str) -> str:
    """Where the collector replays mirrored requests: the shadow predictor's predict endpoint."""
    host = predictor_host(isvc=isvc, namespace=deployment.metadata.namespace)
    if deployment.spec.serving.runtime == "mlflow":
        return f"http://{host}/v2/models/{isvc}/infer"
    return f"http://{host}/v1/models/{isvc}:predict"


def _kserve_objects(
    deployment: ModelDeployment, routes: Routes, config: ClusterConfig, owner: str | None
) -> list:
    shadow = shadow_isvc_name(deployment)
    serving, role = (routes.canary, "challenger") if routes.canary else (routes.stable, "champion")
    mirrored = routes.shadow is not None and routes.shadow_percent > 0
    objects = [
        kserve.inference_service(
            deployment,
            config=config,
            name=deployment.name,
            version=serving,
            role=role,
            canary_percent=routes.canary_weight if routes.canary else None,
            stable_version=routes.stable,
            mirror=mirror_url(deployment, shadow) if mirrored else None,
            mirror_percent=routes.shadow_percent,
            mirror_version=routes.shadow,
            owner_uid=owner,
        )
    ]
    if mirrored and routes.shadow is not None:
        objects.append(
            kserve.inference_service(
                deployment,
                config=config,
                name=shadow,
                version=routes.shadow,
                role="shadow",
                owner_uid=owner,
                log_requests=False,
            )
        )
    return objects


def version_roles(routes: Routes) -> dict[str, str]:
    """Each version in use and its role; a version in two roles keeps the first (champion first)."""
    roles: dict[str, str] = {}
    for version, role in (
        (routes.stable, "champion"),
        (routes.canary, "challenger"),
        (routes.shadow, "shadow"),
    ):
        if version is not None:
            roles.setdefault(version, role)
    return roles


def version_objects(
    deployment: ModelDeployment,
    version: str,
    role: str,
    *,
    config: ClusterConfig,
    owner_uid: str | None = None,
) -> list[dict[str, Any]]:
    """What serves one version when a mesh routes: its InferenceService, and a DestinationRule on Istio."""
    objects = [
        kserve.inference_service(
            deployment,
            config=config,
            name=version_isvc_name(deployment, version),
            version=version,
            role=role,
            mode=kserve.RAW,
            owner_uid=owner_uid,
        )
    ]
    if deployment.spec.router == "istio":
        objects.append(istio.destination_rule(deployment, version, owner_uid=owner_uid))
    return objects


def _mesh_objects(
    deployment: ModelDeployment, routes: Routes, config: ClusterConfig, owner: str | None
) -> list:
    objects: list[dict[str, Any]] = []
    for version, role in version_roles(routes).items():
        objects.extend(version_objects(deployment, version, role, config=config, owner_uid=owner))
    if deployment.spec.router == "istio":
        objects.append(istio.virtual_service(deployment, routes, config=config, owner_uid=owner))
    else:
        objects.append(gateway_api.http_route(deployment, routes, config=config, owner_uid=owner))
    return objects


def desired_objects(
    deployment: ModelDeployment, routes: Routes, *, config: ClusterConfig, owner_uid: str | None = None
) -> list[dict[str, Any]]:
    """Every object for the deployment at these routes: servers, routing, and the drift job."""
    router = check_router(deployment)
    build = _kserve_objects if router == "kserve" else _mesh_objects
    objects = build(deployment, routes, config, owner_uid)
    drift = jobs.drift_cron_workflow if config.drift_engine == "argo" else jobs.drift_cronjob
    objects.append(drift(deployment, config=config, owner_uid=owner_uid))
    return objects
