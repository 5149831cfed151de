"""Fakes and helpers for the operator's contract tests: a registry of aliases, a metric dial, a clock."""

from __future__ import annotations

from dataclasses import dataclass

from apiserver import FakeApiServer

from kubeloop.k8s.api import KubeApi
from kubeloop.k8s.config import ClusterConfig
from kubeloop.k8s.reconcile import Backends, Reconciler

MD = "/apis/kubeloop.io/v1alpha1/namespaces/models/modeldeployments/iris"
ISVC = "/apis/serving.kserve.io/v1beta1/namespaces/models/inferenceservices/iris"
VS = "/apis/networking.istio.io/v1/namespaces/models/virtualservices/iris"


@dataclass
class Version:
    version: str


class Registry:
    """Aliases in a dict; records promotions and tags."""

    def __init__(self) -> None:
        self.aliases = {"champion": "3", "challenger": "4"}
        self.tags: list[dict] = []

    def get_version(self, name: str, version: str | int) -> Version:
        return Version(str(version))

    def version_for_alias(self, name: str, alias: str) -> Version | None:
        found = self.aliases.get(alias)
        return None if found is None else Version(found)

    def set_alias(self, *, name: str, alias: str, version: str | int) -> None:
        self.aliases[alias] = str(version)

    def promote(self, *, name: str, version: str | int) -> Version:
        self.aliases["previous"] = self.aliases["champion"]
        self.aliases["champion"] = str(version)
        if self.aliases.get("challenger") == str(version):
            del self.aliases["challenger"]
        return Version(str(version))

    def set_tags(self, *, name: str, version: str | int, tags: dict) -> None:
        self.tags.append(dict(tags))


class Metrics:
    """Every PromQL query answers the same value."""

    def __init__(self, value: float) -> None:
        self.value = value

    def query(self, query: object, **window: object) -> float | None:
        return self.value


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def manifest(router: str = "kserve", **rollout: object) -> dict:
    return {
        "apiVersion": "kubeloop.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "iris", "namespace": "models"},
        "spec": {
            "model": {"name": "iris-classifier"},
            "router": router,
            "rollout": {
                "shadow": None,
                "canary": {"steps": [10, 25, 50], "interval": "1m"},
                "failureLimit": 2,
                "keepPreviousWarm": 0,
                "checks": [
                    {
                        "name": "errors",
                        "kind": "promql",
                        "query": "errors",
                        "threshold": 0.05,
                        "minSamples": 1,
                    }
                ],
                **rollout,
            },
        },
    }


def reconciler(kube: KubeApi, registry: Registry, clock: Clock, value: float = 0.01) -> Reconciler:
    backends = Backends(registry=registry, metrics=Metrics(value), clock=clock)
    return Reconciler(api=kube, config=ClusterConfig(), backends=backends)


def run(apiserver: FakeApiServer, operator: Reconciler, clock: Clock, times: int) -> list[str]:
    outcomes = []
    for _ in range(times):
        outcomes.append(operator.reconcile(namespace="models", name="iris"))
        clock.now += 61
    return outcomes


def isvc_patches(apiserver: FakeApiServer) -> list:
    return [
        (
            r.body["spec"]["predictor"].get("canaryTrafficPercent"),
            r.body["spec"]["predictor"]["labels"]["kubeloop.io/version"],
            r.body.get("metadata", {}).get("annotations", {}).get("kubeloop.io/stable-version"),
        )
        for r in apiserver.requests
        if r.method == "PATCH" and r.path == ISVC
    ]
