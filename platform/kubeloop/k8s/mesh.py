"""The servers a mesh routes between: one Standard-mode InferenceService (and, on Istio, a DestinationRule)
per model version, named `<name>-v<version>`. Built by pure functions; `MeshServers` is the ModelServers
port that starts a challenger's before any traffic goes to it and deletes a version no route names.
"""

from __future__ import annotations

from typing import Any

from kubeloop.k8s import istio
from kubeloop.k8s.api import PLURALS, KubeApi, Ref
from kubeloop.k8s.config import ClusterConfig
from kubeloop.k8s.kserve.resources import version_isvc
from kubeloop.k8s.meta import version_isvc_name
from kubeloop.routing.base import TrafficRouter
from kubeloop.spec import ModelDeployment


def version_objects(
    deployment: ModelDeployment,
    version: str,
    role: str,
    *,
    config: ClusterConfig,
    owner_uid: str | None = None,
) -> list[dict[str, Any]]:
    """What serves one version when a mesh routes: its InferenceService, and a DestinationRule on Istio."""
    name = version_isvc_name(deployment, version)
    objects = [
        version_isvc(deployment, config=config, name=name, version=version, role=role, owner_uid=owner_uid)
    ]
    if deployment.spec.router == "istio":
        objects.append(istio.destination_rule(deployment, version, owner_uid=owner_uid))
    return objects


class MeshServers:
    """The per-version servers of one deployment routed by Istio or the Gateway API."""

    def __init__(
        self,
        *,
        deployment: ModelDeployment,
        api: KubeApi,
        config: ClusterConfig,
        router: TrafficRouter,
        owner_uid: str | None = None,
    ) -> None:
        self.deployment, self.api, self.config = deployment, api, config
        self.router, self.owner_uid = router, owner_uid

    def ready(self, version: str) -> bool:
        """True once the version's InferenceService reports Ready (its pods answer)."""
        isvc = self.api.get(self._ref(version))
        conditions = (isvc or {}).get("status", {}).get("conditions", [])
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    def start(self, version: str) -> None:
        """Create (or update) the version's InferenceService and rule; it becomes ready on its own."""
        for obj in self._objects(version, "challenger"):
            self.api.apply(obj)

    def retire(self, version: str) -> None:
        """Delete the servers of a version the routes no longer name (a rolled-back or replaced one)."""
        routes = self.router.get_routes()
        if routes is not None and version in routes.versions():
            return
        for obj in self._objects(version, "retired"):
            self.api.delete(Ref.of(obj, plural=PLURALS[obj["kind"]]))

    def _objects(self, version: str, role: str) -> list[dict[str, Any]]:
        return version_objects(self.deployment, version, role, config=self.config, owner_uid=self.owner_uid)

    def _ref(self, version: str) -> Ref:
        isvc = version_objects(self.deployment, version, "challenger", config=self.config)[0]
        return Ref.of(isvc, plural=PLURALS["InferenceService"])
