"""TrafficRouter on KServe: canary by `canaryTrafficPercent` on one InferenceService per deployment.

KServe splits traffic between the latest revision (the predictor in the spec) and the previously
rolled-out one. So a canary puts the challenger in the predictor with canaryTrafficPercent = weight;
promotion drops the percent (the challenger becomes the default); rollback sets the percent to 0 so
every request goes back to the champion's revision at once. KServe cannot mirror: a shadow runs as a
second InferenceService and the collector replays the logged requests to it (see `mirror` in the
logger URL). The stable version is kept in an annotation so routes can be read back.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from kubeloop.k8s import kserve
from kubeloop.k8s.api import KubeApi, Ref
from kubeloop.k8s.config import ClusterConfig
from kubeloop.k8s.meta import LABEL_ROLE, LABEL_VERSION
from kubeloop.k8s.render import mirror_url, shadow_isvc_name
from kubeloop.routing.base import Routes
from kubeloop.spec import ModelDeployment


class KServeRouter:
    """Routes of one ModelDeployment on its InferenceService."""

    def __init__(self, *, deployment: ModelDeployment, api: KubeApi, config: ClusterConfig) -> None:
        self.deployment, self.api, self.config = deployment, api, config

    def _ref(self, name: str) -> Ref:
        return Ref(
            group=kserve.GROUP,
            version=kserve.VERSION,
            plural=kserve.PLURAL,
            namespace=self.deployment.metadata.namespace,
            name=name,
        )

    def set_routes(self, deployment: str, routes: Routes) -> None:
        """Patch the InferenceService's predictor and canary percent; create or delete the shadow."""
        self._check(deployment)
        current = self.get_routes(deployment)
        mirrored = routes.shadow is not None and routes.shadow_percent > 0
        if mirrored and routes.shadow is not None:
            self._ensure_shadow(routes.shadow)
        self.api.patch(self._ref(self.deployment.name), self._patch(routes, current))
        if not mirrored and current is not None and current.shadow is not None:
            self.api.delete(self._ref(shadow_isvc_name(self.deployment)))

    def _patch(self, routes: Routes, current: Routes | None) -> dict[str, Any]:
        shadow = shadow_isvc_name(self.deployment)
        mirror = mirror_url(self.deployment, shadow) if routes.shadow and routes.shadow_percent else None
        if routes.canary is not None:
            serving, role, percent = routes.canary, "challenger", routes.canary_weight
        elif current is not None and current.canary is not None and routes.stable == current.stable:
            # Rollback: the champion's revision is still the previous one; weight 0 sends everything back now.
            serving, role, percent = current.canary, "challenger", 0
        else:
            serving, role, percent = routes.stable, "champion", None
        predictor = kserve.predictor(
            self.deployment,
            config=self.config,
            version=serving,
            role=role,
            canary_percent=percent,
            mirror=mirror,
            mirror_percent=routes.shadow_percent,
            mirror_version=routes.shadow,
        )
        predictor.setdefault("canaryTrafficPercent", None)  # null removes it: 100% to the latest revision
        return {
            "metadata": {
                "annotations": {kserve.STABLE_ANNOTATION: routes.stable},
                "labels": {LABEL_VERSION: serving, LABEL_ROLE: role},
            },
            "spec": {"predictor": predictor},
        }

    def _ensure_shadow(self, version: str) -> None:
        isvc = kserve.inference_service(
            self.deployment,
            config=self.config,
            name=shadow_isvc_name(self.deployment),
            version=version,
            role="shadow",
            log_requests=False,  # the collector logs the shadow's answers under the caller's request id
        )
        self.api.apply(isvc)

    def retire(self, version: str) -> None:
        """Stop serving a version no longer routed: a rolled-back challenger is replaced by the stable one."""
        isvc = self.api.get(self._ref(self.deployment.name))
        routes = None if isvc is None else routes_from_isvc(isvc)
        serving = (
            (isvc or {}).get("spec", {}).get("predictor", {}).get("labels", {}).get(kserve.VERSION_ANNOTATION)
        )
        if routes is None or serving != version or version == routes.stable or routes.canary is not None:
            return
        predictor = kserve.predictor(
            self.deployment, config=self.config, version=routes.stable, role="champion"
        )
        predictor["canaryTrafficPercent"] = None
        labels = {LABEL_VERSION: routes.stable, LABEL_ROLE: "champion"}
        self.api.patch(
            self._ref(self.deployment.name),
            {"metadata": {"labels": labels}, "spec": {"predictor": predictor}},
        )

    def get_routes(self, deployment: str) -> Routes | None:
        """Read the routes back from the InferenceService's annotation, predictor and logger URL."""
        self._check(deployment)
        isvc = self.api.get(self._ref(self.deployment.name))
        return None if isvc is None else routes_from_isvc(isvc)

    def _check(self, deployment: str) -> None:
        if deployment != self.deployment.name:
            raise ValueError(f"this router serves {self.deployment.name!r}, not {deployment!r}")


def routes_from_isvc(isvc: dict[str, Any]) -> Routes | None:
    """The routes an InferenceService carries; a weight-0 canary (rolled back) reads as no canary."""
    stable = isvc["metadata"].get("annotations", {}).get(kserve.STABLE_ANNOTATION)
    predictor = isvc.get("spec", {}).get("predictor", {})
    serving = predictor.get("labels", {}).get(kserve.VERSION_ANNOTATION)
    if stable is None or serving is None:
        return None
    percent = predictor.get("canaryTrafficPercent")
    canary = serving if serving != stable and percent else None
    query = parse_qs(urlsplit(predictor.get("logger", {}).get("url", "")).query)
    shadow_percent = int(query.get("mirrorPercent", ["0"])[0])
    shadow = query.get("shadowVersion", [None])[0] if shadow_percent else None
    return Routes(
        stable=stable,
        canary=canary,
        canary_weight=int(percent or 0) if canary else 0,
        shadow=shadow,
        shadow_percent=shadow_percent if shadow else 0,
    )
