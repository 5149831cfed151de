"""Every object the operator creates validates against the real schemas, for a matrix of specs and phases.

Custom resources are checked against the upstream CRDs (KServe, Istio, Gateway API, Argo); core kinds
with kubernetes-validate for the oldest and newest Kubernetes minor the chart supports.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
from dataclasses import replace

import kubernetes_validate
import openapi_schemas as openapi
import pytest

from kubeloop.k8s.config import ClusterConfig
from kubeloop.k8s.crd import build_crd
from kubeloop.k8s.render import desired_objects, routes_for_phase
from kubeloop.spec import parse_deployment

pytestmark = pytest.mark.k8s

OLDEST_K8S, NEWEST_K8S = "1.29", kubernetes_validate.latest_version()
ROUTERS = ("kserve", "istio", "gateway-api")
RUNTIMES = ("kserve", "bentoml", "mlflow")
PHASES = ("stable", "shadow", "canary:10", "canary:50", "canary:0", "promoted")
DRIFT_ENGINES = ("cronjob", "argo")


def deployment(*, router: str, runtime: str, shadow: bool):
    rollout = {"canary": {"steps": [10, 25, 50], "interval": "1m"}}
    rollout["shadow"] = {"percent": 20, "duration": "2m"} if shadow else None
    return parse_deployment(
        {
            "apiVersion": "kubeloop.io/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": "iris", "namespace": "models"},
            "spec": {
                "model": {"name": "iris-classifier"},
                "router": router,
                "rollout": rollout,
                "serving": {"runtime": runtime, "autoscaling": {"minReplicas": 0, "maxReplicas": 4}},
                "drift": {"schedule": "2h"},
            },
        }
    )


CASES = [
    (router, runtime, shadow, engine, phase)
    for router, runtime, shadow, engine in itertools.product(ROUTERS, RUNTIMES, (True, False), DRIFT_ENGINES)
    for phase in PHASES
    if shadow or phase != "shadow"
]


@functools.cache
def rendered(case: tuple) -> list[dict]:
    """The objects of one case; rendered when a test runs, so collection never imports the kserve SDK."""
    router, runtime, shadow, engine, phase = case
    spec = deployment(router=router, runtime=runtime, shadow=shadow)
    routes = routes_for_phase(spec, phase, champion="3", challenger="4")
    return desired_objects(
        spec, routes, config=replace(ClusterConfig(), drift_engine=engine), owner_uid="0000-1111"
    )


def all_objects() -> list[dict]:
    return [obj for case in CASES for obj in rendered(case)]


def test_matrix_covers_every_kind() -> None:
    kinds = {obj["kind"] for obj in all_objects()}
    assert kinds == {
        "InferenceService",
        "VirtualService",
        "DestinationRule",
        "HTTPRoute",
        "CronJob",
        "CronWorkflow",
    }
    assert len(CASES) == 3 * 3 * 2 * 2 * 5 + 3 * 3 * 2 * 1  # shadow phase only where a shadow exists


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_custom_resources_match_upstream_crds(case, upstream_crds) -> None:
    for obj in rendered(case):
        if "." not in obj["apiVersion"].split("/")[0] or obj["apiVersion"].startswith("batch/"):
            continue
        problems = upstream_crds.problems(obj)
        assert problems == [], f"{obj['kind']} {obj['metadata']['name']}: {problems}"


@pytest.mark.parametrize("k8s_version", [OLDEST_K8S, NEWEST_K8S])
def test_core_kinds_validate_on_oldest_and_newest_kubernetes(k8s_version: str) -> None:
    distinct = {json.dumps(obj, sort_keys=True) for obj in all_objects() if obj["apiVersion"] == "batch/v1"}
    assert len(distinct) >= 9  # one CronJob per spec variant
    for text in distinct:
        kubernetes_validate.validate(json.loads(text), k8s_version, strict=True)


def test_upstream_validation_has_teeth(upstream_crds) -> None:
    objects = rendered(next(case for case in CASES if case[0] == "gateway-api" and case[4] == "shadow"))
    route = copy.deepcopy(next(obj for obj in objects if obj["kind"] == "HTTPRoute"))
    route["spec"]["rules"][0]["filters"][0]["requestMirror"]["percent"] = 250
    route["spec"]["rules"][0]["backendRefs"][0]["weight"] = "heavy"
    problems = upstream_crds.problems(route)
    assert any("requestMirror.percent" in p for p in problems), problems
    assert any("backendRefs.0.weight" in p for p in problems), problems
    with pytest.raises(kubernetes_validate.ValidationError):
        cronjob = copy.deepcopy(next(obj for obj in objects if obj["kind"] == "CronJob"))
        cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] = 7
        kubernetes_validate.validate(cronjob, NEWEST_K8S, strict=True)


@pytest.mark.parametrize("k8s_version", [OLDEST_K8S, NEWEST_K8S])
def test_generated_crd_validates_as_a_crd(k8s_version: str) -> None:
    kubernetes_validate.validate(build_crd(), k8s_version, strict=True)


def test_crd_schema_rejects_a_broken_model_deployment() -> None:
    schema = openapi.served_schema(build_crd())
    broken = deployment(router="istio", runtime="mlflow", shadow=True).to_manifest()
    broken["spec"]["rollout"]["shadow"]["percent"] = 250
    broken["spec"]["serving"]["autoscaling"]["minReplicas"] = -1
    problems = openapi.validate(broken, schema)
    assert [p.split(":")[0] for p in problems] == [
        "spec.rollout.shadow.percent",
        "spec.serving.autoscaling.minReplicas",
    ]


def test_argo_pipeline_workflow_matches_the_upstream_crd(upstream_crds) -> None:
    from kubeloop.pipelines.argo import pipeline_workflow

    workflow = pipeline_workflow(
        "training",
        {"seed": 3, "estimator": "logistic"},
        namespace="ml",
        image="kubeloop:test",
        tracking_uri="http://mlflow:5000",
        service_account="sa",
        digest="0" * 64,
    )
    assert upstream_crds.problems(workflow) == []
