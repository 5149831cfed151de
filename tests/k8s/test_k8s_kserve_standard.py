"""Standard-mode InferenceServices with `spec.canary` match the upstream CRD and KServe's own canary rules.

The rules are those of KServe's `validateCanarySpecs` (v0.20): Standard mode only, a stable predictor
with a model storageUri, unique canary names other than the stable predictor's, no autoscaling on a
canary, a canary's minReplicas no more than the stable's, and weights that sum to 100 at most.
"""

from __future__ import annotations

from typing import Any

import pytest

from kubeloop.k8s.api import drop_nulls
from kubeloop.k8s.config import ClusterConfig
from kubeloop.k8s.kserve.modes import MODE_ANNOTATION, Split, mode_of
from kubeloop.k8s.kserve.traffic import Live, Target, main_isvc
from kubeloop.routing.base import RouteChange, Routes
from kubeloop.spec import parse_deployment

pytestmark = pytest.mark.k8s

# (routes, change) in the order a promoted rollout and a rolled-back one write them.
MOVES = [
    (Routes(stable="3"), RouteChange.STEP),
    (Routes(stable="3", shadow="4", shadow_percent=20), RouteChange.STEP),
    (Routes(stable="3", canary="4", canary_weight=10), RouteChange.STEP),
    (Routes(stable="3", canary="4", canary_weight=100), RouteChange.STEP),
    (Routes(stable="4"), RouteChange.PROMOTE),
    (Routes(stable="4", canary="5", canary_weight=50), RouteChange.STEP),
    (Routes(stable="4"), RouteChange.ROLLBACK),
    (Routes(stable="3"), RouteChange.ROLLBACK),
]


@pytest.mark.parametrize("min_replicas", [0, 1, 3])
def test_every_standard_move_matches_the_crd_and_kserves_canary_rules(
    upstream_crds: Any, min_replicas: int
) -> None:
    deployment = parse_deployment(
        {
            "metadata": {"name": "iris", "namespace": "models"},
            "spec": {
                "model": {"name": "iris-classifier"},
                "router": "kserve",
                "serving": {
                    "runtime": "mlflow",
                    "autoscaling": {"minReplicas": min_replicas, "maxReplicas": 4},
                },
            },
        }
    )
    target = Target(deployment=deployment, config=ClusterConfig(), split=Split.CANARY_SPEC, mode="Standard")
    live = Live()
    for routes, change in MOVES:
        isvc = drop_nulls(main_isvc(target, routes, change=change, live=live))
        assert upstream_crds.problems(isvc) == [], (routes, change)
        assert kserve_canary_problems(isvc) == [], (routes, change)
        live = Live.of(isvc)


def kserve_canary_problems(isvc: dict[str, Any]) -> list[str]:
    """What KServe's admission webhook would refuse about an InferenceService's canaries."""
    spec, problems = isvc["spec"], []
    canaries = spec.get("canary", [])
    if not canaries:
        return problems
    if mode_of(isvc, cluster_default=None).value != "Standard":
        problems.append("canary is only supported in Standard mode")
    stable = spec["predictor"]
    if not stable.get("model", {}).get("storageUri"):
        problems.append("canary requires a stable predictor with a model")
    names = [c["predictor"].get("name") for c in canaries]
    if None in names or len(set(names)) != len(names) or stable.get("name") in names:
        problems.append(f"canary names must be set, unique and not the stable's: {names}")
    for canary in canaries:
        predictor = canary["predictor"]
        if {"maxReplicas", "scaleTarget", "scaleMetric", "autoScaling"} & predictor.keys():
            problems.append(f"canary {predictor['name']} sets autoscaling")
        if predictor.get("minReplicas", 0) > stable.get("minReplicas", 1):
            problems.append(f"canary {predictor['name']} has more minReplicas than the stable predictor")
    if sum(c["trafficPercent"] for c in canaries) > 100:
        problems.append("canary weights sum over 100")
    return problems


def test_the_rules_have_teeth() -> None:
    bad = {
        "metadata": {"annotations": {MODE_ANNOTATION: "Serverless"}},
        "spec": {
            "predictor": {"name": "v3", "minReplicas": 1, "containers": []},
            "canary": [
                {"trafficPercent": 60, "predictor": {"name": "v3", "maxReplicas": 2}},
                {"trafficPercent": 60, "predictor": {"name": "v5", "minReplicas": 2}},
            ],
        },
    }
    assert len(kserve_canary_problems(bad)) == 6
