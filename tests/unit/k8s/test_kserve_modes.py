"""KServe deployment modes and how each moves traffic on one InferenceService: pure, given the live object."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from route_strategies import routes

from kubeloop.k8s.config import ClusterConfig
from kubeloop.k8s.kserve.modes import (
    Mode,
    Split,
    default_mode,
    mode_annotation,
    mode_of,
    parse_mode,
    split_for,
)
from kubeloop.k8s.kserve.traffic import Live, Target, main_isvc, retired_isvc, routes_from_isvc
from kubeloop.routing.base import RouteChange, Routes
from kubeloop.spec import parse_deployment


def deployment(runtime: str = "mlflow", min_replicas: int = 2) -> Any:
    return parse_deployment(
        {
            "metadata": {"name": "iris", "namespace": "models"},
            "spec": {
                "model": {"name": "iris-classifier"},
                "router": "kserve",
                "serving": {
                    "runtime": runtime,
                    "autoscaling": {"minReplicas": min_replicas, "maxReplicas": 4},
                },
            },
        }
    )


STANDARD = Target(deployment=deployment(), config=ClusterConfig(), split=Split.CANARY_SPEC, mode="Standard")
KNATIVE = Target(
    deployment=deployment("kserve"), config=ClusterConfig(), split=Split.CANARY_PERCENT, mode="Serverless"
)


def isvc(mode: str | None = None, status: str | None = None) -> dict[str, Any]:
    annotations = {"serving.kserve.io/deploymentMode": mode} if mode else {}
    return {"metadata": {"annotations": annotations}, "status": {"deploymentMode": status} if status else {}}


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ("Serverless", Mode.KNATIVE),
        ("Knative", Mode.KNATIVE),
        ("RawDeployment", Mode.STANDARD),
        ("Standard", Mode.STANDARD),
        ("ModelMesh", Mode.MODELMESH),
        ("", None),
        (None, None),
        ("Fast", None),
    ],
)
def test_mode_names_old_and_new(text: str | None, mode: Mode | None) -> None:
    assert parse_mode(text) is mode


@pytest.mark.parametrize(
    ("config_map", "found"),
    [
        ({"data": {"deploy": '{"defaultDeploymentMode": "Standard"}'}}, "Standard"),
        ({"data": {"deploy": '{"defaultDeploymentMode": "Serverless", "x": 1}'}}, "Serverless"),
        ({"data": {"deploy": "{not json"}}, None),
        ({"data": {"deploy": '["Standard"]'}}, None),
        ({"data": {}}, None),
        (None, None),
    ],
)
def test_the_cluster_default_is_read_from_kserves_config_map(config_map: Any, found: str | None) -> None:
    assert default_mode(config_map) == found


def test_the_mode_is_the_recorded_one_then_the_annotation_then_the_cluster_default() -> None:
    assert mode_of(isvc("Serverless", status="Standard"), cluster_default="Knative") is Mode.STANDARD
    assert mode_of(isvc("RawDeployment"), cluster_default="Knative") is Mode.STANDARD
    assert mode_of(None, cluster_default="Standard") is Mode.STANDARD
    assert mode_of(None, cluster_default=None) is Mode.KNATIVE, "what kubeloop creates when nothing says"


def test_the_mode_annotation_written_is_never_a_change() -> None:
    assert (
        mode_annotation(isvc("RawDeployment", status="Standard"), cluster_default="Knative")
        == "RawDeployment"
    )
    assert mode_annotation(isvc(status="Knative"), cluster_default="Standard") == "Knative"
    assert mode_annotation(None, cluster_default="Standard") == "Standard"
    assert mode_annotation(None, cluster_default=None) == "Serverless"


def test_which_field_splits_traffic_or_which_router_to_use_instead() -> None:
    assert split_for(Mode.KNATIVE, runtime="kserve") is Split.CANARY_PERCENT
    assert split_for(Mode.STANDARD, runtime="mlflow") is Split.CANARY_SPEC
    for runtime in ("kserve", "bentoml"):
        refusal = split_for(Mode.STANDARD, runtime=runtime)
        assert isinstance(refusal, str) and "Standard mode" in refusal and "istio or gateway-api" in refusal
    refusal = split_for(Mode.MODELMESH, runtime="mlflow")
    assert isinstance(refusal, str) and "ModelMesh" in refusal and "istio or gateway-api" in refusal


@settings(deadline=None, max_examples=60)
@given(routes(min_weight=1), routes(min_weight=1))
def test_standard_routes_read_back_whatever_ran_before(found: Routes, before: Routes) -> None:
    live = Live.of(main_isvc(STANDARD, before, change=RouteChange.STEP, live=Live()))
    assert routes_from_isvc(main_isvc(STANDARD, found, change=RouteChange.STEP, live=live)) == found


def canaries(obj: dict[str, Any]) -> list[tuple[str, int]]:
    return [(c["predictor"]["name"], c["trafficPercent"]) for c in obj["spec"].get("canary", [])]


def test_standard_promotion_renames_the_stable_predictor_and_keeps_the_old_one_warm() -> None:
    canary = main_isvc(
        STANDARD, Routes(stable="3", canary="4", canary_weight=100), change=RouteChange.STEP, live=Live()
    )
    promoted = main_isvc(STANDARD, Routes(stable="4"), change=RouteChange.PROMOTE, live=Live.of(canary))
    assert promoted["spec"]["predictor"]["name"] == "v4" and canaries(promoted) == [("v3", 0)]
    assert promoted["spec"]["canary"][0]["predictor"]["minReplicas"] == 1, "warm, one pod"
    late = main_isvc(STANDARD, Routes(stable="3"), change=RouteChange.ROLLBACK, live=Live.of(promoted))
    assert late["spec"]["predictor"]["name"] == "v3" and canaries(late) == [("v4", 0)]
    retired = retired_isvc(STANDARD, "4", live=Live.of(late), routes=Routes(stable="3"))
    assert retired is not None and canaries(retired) == []
    assert retired_isvc(STANDARD, "3", live=Live.of(late), routes=Routes(stable="3")) is None, "routed: kept"


def test_knative_rollback_is_a_percent_and_retirement_keeps_the_champions_revision() -> None:
    canary = main_isvc(
        KNATIVE, Routes(stable="3", canary="4", canary_weight=25), change=RouteChange.STEP, live=Live()
    )
    back = main_isvc(KNATIVE, Routes(stable="3"), change=RouteChange.ROLLBACK, live=Live.of(canary))
    assert (
        back["spec"]["predictor"]["labels"]["kubeloop.io/version"],
        back["spec"]["predictor"]["canaryTrafficPercent"],
    ) == ("4", 0)
    resting = main_isvc(KNATIVE, Routes(stable="3"), change=RouteChange.STEP, live=Live.of(back))
    assert resting == back, "converging on the stable routes leaves a rolled-back canary to its retirement"
    retired = retired_isvc(KNATIVE, "4", live=Live.of(back), routes=Routes(stable="3"))
    assert retired is not None
    assert (
        retired["spec"]["predictor"]["labels"]["kubeloop.io/version"],
        retired["spec"]["predictor"]["canaryTrafficPercent"],
    ) == ("3", 0)
    assert routes_from_isvc(retired) == Routes(stable="3")


def test_knative_promotion_and_late_rollback_drop_the_percent() -> None:
    full = main_isvc(
        KNATIVE, Routes(stable="3", canary="4", canary_weight=100), change=RouteChange.STEP, live=Live()
    )
    promoted = main_isvc(KNATIVE, Routes(stable="4"), change=RouteChange.PROMOTE, live=Live.of(full))
    assert promoted["spec"]["predictor"]["canaryTrafficPercent"] is None
    late = main_isvc(KNATIVE, Routes(stable="3"), change=RouteChange.ROLLBACK, live=Live.of(promoted))
    predictor = late["spec"]["predictor"]
    assert predictor["labels"]["kubeloop.io/version"] == "3" and predictor["canaryTrafficPercent"] is None
