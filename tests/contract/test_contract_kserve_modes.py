"""The operator on KServe in each deployment mode, against the recording API server.

Given an InferenceService whose mode (its annotation, or the cluster default in KServe's ConfigMap)
decides how traffic can split, when a challenger is registered, then the operator uses the field that
works there (Knative: canaryTrafficPercent; Standard: spec.canary) or refuses with a condition naming
the mode and the routers that would work, while the champion keeps being served.
"""

from __future__ import annotations

import json
from typing import Any

from apiserver import FakeApiServer
from kubernetes.client import ApiClient, Configuration
from operator_fakes import ISVC, MD, Clock, Registry, manifest, reconciler, run

from kubeloop.k8s.api import KubeApi

KSERVE_CONFIG = "/api/v1/namespaces/kserve/configmaps/inferenceservice-config"
MODE = "serving.kserve.io/deploymentMode"


def with_runtime(runtime: str, **rollout: Any) -> dict[str, Any]:
    found = manifest(**rollout)
    found["spec"]["serving"] = {"runtime": runtime}
    return found


def cluster_default(apiserver: FakeApiServer, mode: str) -> None:
    apiserver.put_object(KSERVE_CONFIG, {"data": {"deploy": json.dumps({"defaultDeploymentMode": mode})}})


def conditions(apiserver: FakeApiServer) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in apiserver.objects[MD]["status"]["conditions"]}


def canary_writes(apiserver: FakeApiServer) -> list[list[tuple[str, int]]]:
    return [
        [(c["predictor"]["name"], c["trafficPercent"]) for c in r.body["spec"].get("canary", [])]
        for r in apiserver.requests
        if r.path == ISVC and r.method in ("PATCH", "POST")
    ]


def test_standard_mode_with_a_custom_container_refuses_the_rollout_and_names_the_routers(
    apiserver: FakeApiServer, kube: KubeApi, clock: Clock
) -> None:
    cluster_default(apiserver, "Standard")
    apiserver.put_object(MD, with_runtime("kserve"))
    outcomes = run(apiserver, reconciler(kube, Registry(), clock), clock, 2)
    assert outcomes == ["refused", "refused"]
    backend = conditions(apiserver)["BackendAvailable"]
    assert (backend["status"], backend["reason"]) == ("False", "TrafficSplitUnsupported")
    assert "Standard mode" in backend["message"] and "istio or gateway-api" in backend["message"]
    assert conditions(apiserver)["Ready"]["status"] == "True", "the champion is still served"
    assert "rollout" not in apiserver.objects[MD]["status"]
    isvc = apiserver.objects[ISVC]
    assert isvc["metadata"]["annotations"][MODE] == "Standard"
    assert isvc["spec"]["predictor"]["labels"]["kubeloop.io/version"] == "3"


def test_standard_mode_rolls_out_through_spec_canary_and_keeps_the_old_champion_warm(
    apiserver: FakeApiServer, kube: KubeApi, clock: Clock
) -> None:
    cluster_default(apiserver, "RawDeployment")
    apiserver.put_object(MD, with_runtime("mlflow", keepPreviousWarm="2m"))
    registry = Registry()
    outcomes = run(apiserver, reconciler(kube, registry, clock), clock, 5)
    assert outcomes == ["canary", "canary", "canary", "promoted", "promoted"]
    assert apiserver.objects[ISVC]["metadata"]["annotations"][MODE] == "RawDeployment"
    writes = [w for w in canary_writes(apiserver) if w]
    assert writes == [[("v4", 10)], [("v4", 25)], [("v4", 50)], [("v4", 100)], [("v3", 0)]]
    live = apiserver.objects[ISVC]["spec"]
    assert live["predictor"]["name"] == "v4" and live["predictor"]["model"]["storageUri"].endswith("/4")
    assert registry.aliases["champion"] == "4"
    clock.now += 120
    assert run(apiserver, reconciler(kube, registry, clock), clock, 1) == ["promoted"]
    assert apiserver.objects[ISVC]["spec"]["canary"] == [], "retired once its warm period ended"


def test_knative_mode_keeps_canary_traffic_percent(
    apiserver: FakeApiServer, kube: KubeApi, clock: Clock
) -> None:
    cluster_default(apiserver, "Knative")
    apiserver.put_object(MD, with_runtime("kserve"))
    assert run(apiserver, reconciler(kube, Registry(), clock), clock, 2) == ["canary", "canary"]
    isvc = apiserver.objects[ISVC]
    assert isvc["metadata"]["annotations"][MODE] == "Knative"
    assert isvc["spec"]["predictor"]["canaryTrafficPercent"] == 25 and "canary" not in isvc["spec"]


def test_an_unreadable_cluster_default_falls_back_to_serverless(
    apiserver: FakeApiServer, kube: KubeApi, clock: Clock
) -> None:
    apiserver.fail("GET", KSERVE_CONFIG, 403)
    apiserver.put_object(MD, with_runtime("kserve"))
    assert run(apiserver, reconciler(kube, Registry(), clock), clock, 1) == ["canary"]
    assert apiserver.objects[ISVC]["metadata"]["annotations"][MODE] == "Serverless"


class OldKServe(FakeApiServer):
    """A cluster whose InferenceService schema predates spec.canary: the API server prunes the field."""

    def put_object(self, path: str, obj: dict[str, Any]) -> None:
        if "/inferenceservices/" in path:
            obj = {**obj, "spec": {k: v for k, v in obj.get("spec", {}).items() if k != "canary"}}
        super().put_object(path, obj)


def test_a_cluster_without_spec_canary_is_a_condition_naming_the_kserve_version(clock: Clock) -> None:
    with OldKServe() as cluster:
        api = KubeApi(ApiClient(Configuration(host=cluster.url)))
        cluster_default(cluster, "Standard")
        cluster.put_object(MD, with_runtime("mlflow"))
        assert run(cluster, reconciler(api, Registry(), clock), clock, 2) == ["backend-missing"] * 2
        condition = {c["type"]: c for c in cluster.objects[MD]["status"]["conditions"]}["BackendAvailable"]
        assert condition["reason"] == "CrdMissing" and "spec.canary" in condition["message"]
        assert "KServe 0.20" in condition["message"] and "istio or gateway-api" in condition["message"]
