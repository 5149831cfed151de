"""The KServe backend's ports: TrafficRouter and ModelServers of one deployment's InferenceService."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubeloop.k8s.api import KubeApi, MissingCrd, Ref
from kubeloop.k8s.config import ClusterConfig
from kubeloop.k8s.kserve.modes import CONFIG_MAP, Split, default_mode, mode_annotation, mode_of, split_for
from kubeloop.k8s.kserve.resources import GROUP, PLURAL, VERSION, shadow_isvc_name, version_isvc
from kubeloop.k8s.kserve.traffic import Live, Target, main_isvc, retired_isvc, routes_from_isvc
from kubeloop.routing.base import RouteChange, Routes
from kubeloop.spec import ModelDeployment


def isvc_ref(deployment: ModelDeployment, name: str) -> Ref:
    """Where an InferenceService of the deployment lives."""
    namespace = deployment.metadata.namespace
    return Ref(group=GROUP, version=VERSION, plural=PLURAL, namespace=namespace, name=name)


@dataclass(frozen=True, kw_only=True)
class KServeBackend:
    """The ports of one deployment on KServe, and why its mode cannot split traffic (if it cannot)."""

    router: KServeRouter
    servers: KServeServers
    refusal: str | None


def kserve_backend(
    deployment: ModelDeployment, *, api: KubeApi, config: ClusterConfig, owner_uid: str | None = None
) -> KServeBackend:
    """Read the InferenceService's deployment mode (its own, else the cluster's) and bind the ports to it."""
    live = api.get(isvc_ref(deployment, deployment.name))
    cluster = (
        None if live is not None else default_mode(api.read_config_map(config.kserve_namespace, CONFIG_MAP))
    )
    found = split_for(mode_of(live, cluster_default=cluster), runtime=deployment.spec.serving.runtime)
    # A mode that cannot split still serves the champion (through canaryTrafficPercent, which it ignores).
    split = found if isinstance(found, Split) else Split.CANARY_PERCENT
    mode = mode_annotation(live, cluster_default=cluster)
    target = Target(deployment=deployment, config=config, split=split, mode=mode, owner_uid=owner_uid)
    router = KServeRouter(target=target, api=api)
    refusal = None if isinstance(found, Split) else found
    return KServeBackend(router=router, servers=KServeServers(router=router), refusal=refusal)


class KServeRouter:
    """Routes of one ModelDeployment on its InferenceService; a shadow is a second InferenceService."""

    def __init__(self, *, target: Target, api: KubeApi) -> None:
        self.target, self.api = target, api
        self.ref = isvc_ref(target.deployment, target.deployment.name)
        self.shadow_ref = isvc_ref(target.deployment, shadow_isvc_name(target.deployment))

    def desired(self, routes: Routes) -> list[dict[str, Any]]:
        """The InferenceServices carrying `routes` as they stand (what the operator converges on)."""
        objects = [
            main_isvc(self.target, routes, change=RouteChange.STEP, live=Live.of(self.api.get(self.ref)))
        ]
        if routes.shadow is not None and routes.shadow_percent:
            objects.append(self._shadow(routes.shadow))
        return objects

    def set_routes(self, routes: Routes, *, change: RouteChange = RouteChange.STEP) -> None:
        """Write the predictor (and canaries) for `routes` moved as `change` says; create or drop a shadow."""
        live = self.api.get(self.ref)
        mirrored = routes.shadow is not None and routes.shadow_percent > 0
        if mirrored and routes.shadow is not None:
            self.api.apply(self._shadow(routes.shadow))
        self._write(main_isvc(self.target, routes, change=change, live=Live.of(live)))
        current = None if live is None else routes_from_isvc(live)
        if not mirrored and current is not None and current.shadow is not None:
            self.api.delete(self.shadow_ref)

    def get_routes(self) -> Routes | None:
        """Read the routes back from the InferenceService's annotation, predictor, canaries and logger URL."""
        isvc = self.api.get(self.ref)
        return None if isvc is None else routes_from_isvc(isvc)

    def _shadow(self, version: str) -> dict[str, Any]:
        return version_isvc(
            self.target.deployment,
            config=self.target.config,
            name=self.shadow_ref.name,
            version=version,
            role="shadow",
            mode=self.target.mode,
            log_requests=False,  # the collector logs the shadow's answers under the caller's request id
            owner_uid=self.target.owner_uid,
        )

    def _write(self, isvc: dict[str, Any]) -> None:
        written = self.api.apply(isvc)
        if isvc["spec"].get("canary") and not written.get("spec", {}).get("canary"):
            raise MissingCrd(
                "the cluster's InferenceService schema has no spec.canary, which KServe 0.20+ needs for "
                "canaries in Standard mode: upgrade KServe, or use spec.router istio or gateway-api"
            )


class KServeServers:
    """The servers KServe runs for the deployment: a version starts with the route change that needs it."""

    def __init__(self, *, router: KServeRouter) -> None:
        self.router = router

    def ready(self, version: str) -> bool:
        """True: KServe moves traffic to a new revision (or a Standard canary) only once it is ready."""
        return True

    def start(self, version: str) -> None:
        """Nothing ahead of the route change: the predictor (or canary entry) that names it starts it."""

    def retire(self, version: str) -> None:
        """Take a version the routes no longer name out of the InferenceService (`traffic.retired_isvc`)."""
        live = self.router.api.get(self.router.ref)
        routes = None if live is None else routes_from_isvc(live)
        if routes is None:
            return
        body = retired_isvc(self.router.target, version, live=Live.of(live), routes=routes)
        if body is not None:
            self.router._write(body)
