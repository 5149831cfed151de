"""Pure builders: routes survive a round trip through each router's object, schedules, conditions, status."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from route_strategies import routes

from kubeloop.errors import SpecError
from kubeloop.k8s import gateway_api, istio, jobs
from kubeloop.k8s.config import ClusterConfig, config_from_env
from kubeloop.k8s.kserve.traffic import routes_from_isvc
from kubeloop.k8s.render import desired_objects, routes_for_phase
from kubeloop.k8s.status import Condition, merge_conditions
from kubeloop.routing.base import Routes
from kubeloop.spec import parse_deployment


def deployment(router: str):
    return parse_deployment(
        {
            "metadata": {"name": "iris", "namespace": "models"},
            "spec": {"model": {"name": "iris-classifier"}, "router": router},
        }
    )


@settings(deadline=None)
@given(routes())
def test_istio_routes_round_trip(found: Routes) -> None:
    spec = deployment("istio")
    assert (
        istio.routes_from_virtual_service(spec, istio.virtual_service(spec, found, config=ClusterConfig()))
        == found
    )


@settings(deadline=None)
@given(routes())
def test_gateway_api_routes_round_trip(found: Routes) -> None:
    spec = deployment("gateway-api")
    assert (
        gateway_api.routes_from_http_route(spec, gateway_api.http_route(spec, found, config=ClusterConfig()))
        == found
    )


@settings(deadline=None)  # the first call imports the kserve SDK
@given(routes().filter(lambda r: r.canary is None or r.canary_weight > 0))
def test_kserve_routes_round_trip(found: Routes) -> None:
    spec = deployment("kserve")
    (isvc, *_rest) = desired_objects(spec, found, config=ClusterConfig())
    assert routes_from_isvc(isvc) == found


@pytest.mark.parametrize(
    ("schedule", "cron"),
    [
        ("15m", "*/15 * * * *"),
        ("1h", "0 * * * *"),
        ("6h", "0 */6 * * *"),
        ("1d", "0 0 * * *"),
        ("30 2 * * 1-5", "30 2 * * 1-5"),
        (" 1m ", "*/1 * * * *"),
    ],
)
def test_cron_schedules(schedule: str, cron: str) -> None:
    assert jobs.cron_schedule(schedule) == cron


@pytest.mark.parametrize("schedule", ["7h", "90m", "2d", "soon", "-5m"])
def test_unschedulable_intervals_name_the_field(schedule: str) -> None:
    with pytest.raises(SpecError, match=r"^spec\.drift\.schedule: "):
        jobs.cron_schedule(schedule)


def test_phases_and_bad_phases() -> None:
    spec = deployment("istio")
    assert routes_for_phase(spec, "canary:25", champion="3", challenger="4") == Routes(
        stable="3", canary="4", canary_weight=25
    )
    assert routes_for_phase(spec, "promoted", champion="3", challenger="4") == Routes(stable="4")
    no_shadow = parse_deployment(
        {
            "metadata": {"name": "iris"},
            "spec": {"model": {"name": "m"}, "router": "istio", "rollout": {"shadow": None}},
        }
    )
    with pytest.raises(SpecError, match="no shadow phase"):
        routes_for_phase(no_shadow, "shadow", champion="3", challenger="4")


def test_long_names_are_refused_naming_the_object() -> None:
    long = parse_deployment(
        {"metadata": {"name": "a" * 60}, "spec": {"model": {"name": "m"}, "router": "istio"}}
    )
    with pytest.raises(SpecError, match="predictor Service name"):
        desired_objects(long, Routes(stable="1"), config=ClusterConfig())


def test_conditions_keep_transition_time_until_status_changes() -> None:
    first = merge_conditions(
        [], [Condition(type="Ready", status=True, reason="Serving")], generation=1, now="t1"
    )
    same = merge_conditions(
        first, [Condition(type="Ready", status=True, reason="Serving")], generation=2, now="t2"
    )
    flipped = merge_conditions(
        same, [Condition(type="Ready", status=False, reason="CrdMissing")], generation=2, now="t3"
    )
    assert same[0]["lastTransitionTime"] == "t1" and same[0]["observedGeneration"] == 2
    assert flipped[0] == {
        "type": "Ready",
        "status": "False",
        "reason": "CrdMissing",
        "message": "",
        "observedGeneration": 2,
        "lastTransitionTime": "t3",
    }


def test_config_from_env_reads_prefixed_variables() -> None:
    config = config_from_env(
        {
            "KUBELOOP_K8S_PLATFORM_IMAGE": "registry/kubeloop:1",
            "KUBELOOP_K8S_SERVING_IMAGE": "registry/kubeloop-serving:1",
            "KUBELOOP_K8S_BENTO_IMAGE": "registry/kubeloop-bento:1",
            "KUBELOOP_K8S_OPERATOR_METRICS_PORT": "9100",
            "KUBELOOP_K8S_DOMAIN": "x.io",
        }
    )
    assert (
        config.platform_image == "registry/kubeloop:1"
        and config.host(name="iris", namespace="ml") == "iris.ml.x.io"
    )
    assert config.model_server_image("kserve") == "registry/kubeloop-serving:1"
    assert config.model_server_image("bentoml") == "registry/kubeloop-bento:1"
    assert config.operator_metrics_port == 9100 and config.operator_health_port == 8080
    assert config.drift_engine == "cronjob"
