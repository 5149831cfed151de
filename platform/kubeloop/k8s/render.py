"""Every object the operator keeps for a deployment at given routes, computed by one pure function.

`desired_objects` is what `kubeloop k8s render` prints and what the schema tests validate;
`routes_for_phase` turns a phase name (shadow, canary:N, promoted) into the routes of that phase.
The operator converges on the same objects, with the KServe InferenceService moved as its live
object requires (`kubeloop.k8s.kserve.traffic`).
"""

from __future__ import annotations

from typing import Any

from kubeloop.errors import SpecError
from kubeloop.k8s import gateway_api, istio, jobs
from kubeloop.k8s.api import drop_nulls
from kubeloop.k8s.config import ClusterConfig
from kubeloop.k8s.kserve.modes import Split
from kubeloop.k8s.kserve.resources import shadow_isvc_name, version_isvc
from kubeloop.k8s.kserve.traffic import Live, Target, main_isvc
from kubeloop.k8s.mesh import version_objects
from kubeloop.routing.base import RouteChange, Routes
from kubeloop.spec import ModelDeployment

CLUSTER_ROUTERS = ("kserve", "istio", "gateway-api")
# What a freshly created InferenceService of the KServe router runs in when the cluster says nothing.
DEFAULT_KSERVE_MODE = "Serverless"


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


def kserve_objects(
    deployment: ModelDeployment, routes: Routes, *, config: ClusterConfig, owner_uid: str | None = None
) -> list[dict[str, Any]]:
    """The KServe router's InferenceServices for these routes, created fresh (Knative revisions split)."""
    target = Target(
        deployment=deployment,
        config=config,
        split=Split.CANARY_PERCENT,
        mode=DEFAULT_KSERVE_MODE,
        owner_uid=owner_uid,
    )
    objects = [main_isvc(target, routes, change=RouteChange.STEP, live=Live())]
    if routes.shadow is not None and routes.shadow_percent:
        shadow = shadow_isvc_name(deployment)
        objects.append(
            version_isvc(
                deployment,
                config=config,
                name=shadow,
                version=routes.shadow,
                role="shadow",
                mode=DEFAULT_KSERVE_MODE,
                log_requests=False,
                owner_uid=owner_uid,
            )
        )
    return [drop_nulls(obj) for obj in objects]


def mesh_objects(
    deployment: ModelDeployment, routes: Routes, *, config: ClusterConfig, owner_uid: str | None = None
) -> list[dict[str, Any]]:
    """Each routed version's servers and the VirtualService or HTTPRoute between them."""
    objects: list[dict[str, Any]] = []
    for version, role in routes.versions().items():
        objects.extend(version_objects(deployment, version, role, config=config, owner_uid=owner_uid))
    if deployment.spec.router == "istio":
        objects.append(istio.virtual_service(deployment, routes, config=config, owner_uid=owner_uid))
    else:
        objects.append(gateway_api.http_route(deployment, routes, config=config, owner_uid=owner_uid))
    return objects


def drift_job(
    deployment: ModelDeployment, *, config: ClusterConfig, owner_uid: str | None = None
) -> dict[str, Any]:
    """The deployment's scheduled drift check: a CronJob, or an Argo CronWorkflow."""
    build = jobs.drift_cron_workflow if config.drift_engine == "argo" else jobs.drift_cronjob
    return build(deployment, config=config, owner_uid=owner_uid)


def desired_objects(
    deployment: ModelDeployment, routes: Routes, *, config: ClusterConfig, owner_uid: str | None = None
) -> list[dict[str, Any]]:
    """Every object for the deployment at these routes: servers, routing, and the drift job."""
    router = check_router(deployment)
    build = kserve_objects if router == "kserve" else mesh_objects
    objects = build(deployment, routes, config=config, owner_uid=owner_uid)
    return [*objects, drift_job(deployment, config=config, owner_uid=owner_uid)]
