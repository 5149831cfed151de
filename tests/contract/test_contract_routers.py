"""Routers against a recording API server: the exact writes of a rollout, conflicts, deleted objects."""

from __future__ import annotations

import pytest
from apiserver import FakeApiServer

from kubeloop.k8s import gateway_api, istio
from kubeloop.k8s.api import Gone, KubeApi
from kubeloop.k8s.config import ClusterConfig
from kubeloop.k8s.render import desired_objects
from kubeloop.routing.base import RouteChange, Routes, TrafficRouter
from kubeloop.routing.factory import cluster_backend
from kubeloop.spec import parse_deployment

CONFIG = ClusterConfig()
ROLLOUT = [
    Routes(stable="3", canary="4", canary_weight=10),
    Routes(stable="3", canary="4", canary_weight=25),
    Routes(stable="3", canary="4", canary_weight=50),
    Routes(stable="4"),
]
ISVC = "/apis/serving.kserve.io/v1beta1/namespaces/models/inferenceservices/iris"
VS = "/apis/networking.istio.io/v1/namespaces/models/virtualservices/iris"
ROUTE = "/apis/gateway.networking.k8s.io/v1/namespaces/models/httproutes/iris"


def deployment(router: str):
    return parse_deployment(
        {
            "metadata": {"name": "iris", "namespace": "models"},
            "spec": {"model": {"name": "iris-classifier"}, "router": router},
        }
    )


def router_of(kube: KubeApi, router: str) -> TrafficRouter:
    return cluster_backend(deployment(router), api=kube, config=CONFIG).router


def install(kube: KubeApi, router: str, routes: Routes) -> None:
    for obj in desired_objects(deployment(router), routes, config=CONFIG):
        kube.apply(obj)


def test_kserve_rollout_patches_canary_percent_then_promotes(apiserver: FakeApiServer, kube: KubeApi) -> None:
    install(kube, "kserve", Routes(stable="3"))
    router = router_of(kube, "kserve")
    apiserver.requests.clear()
    for routes in ROLLOUT:
        router.set_routes(routes)
        assert router.get_routes() == routes
    patches = [r for r in apiserver.requests if r.method == "PATCH"]
    assert [p.path for p in patches] == [ISVC] * 4
    assert {p.content_type for p in patches} == {"application/merge-patch+json"}
    predictor = [p.body["spec"]["predictor"] for p in patches]
    assert [p["canaryTrafficPercent"] for p in predictor] == [10, 25, 50, None]
    assert [p["labels"]["kubeloop.io/version"] for p in predictor] == ["4", "4", "4", "4"]
    stable = [p.body["metadata"]["annotations"]["kubeloop.io/stable-version"] for p in patches]
    assert stable == ["3", "3", "3", "4"]
    assert "canaryTrafficPercent" not in apiserver.objects[ISVC]["spec"]["predictor"]


def test_kserve_rollback_sets_canary_weight_zero(apiserver: FakeApiServer, kube: KubeApi) -> None:
    install(kube, "kserve", Routes(stable="3"))
    router = router_of(kube, "kserve")
    router.set_routes(ROLLOUT[1])
    apiserver.requests.clear()
    router.set_routes(Routes(stable="3"), change=RouteChange.ROLLBACK)
    (patch,) = [r for r in apiserver.requests if r.method == "PATCH"]
    assert patch.body["spec"]["predictor"]["canaryTrafficPercent"] == 0
    assert router.get_routes() == Routes(stable="3")


def test_kserve_shadow_runs_a_second_service_and_mirrors_through_the_collector(
    apiserver: FakeApiServer, kube: KubeApi
) -> None:
    install(kube, "kserve", Routes(stable="3"))
    router = router_of(kube, "kserve")
    shadow = Routes(stable="3", shadow="4", shadow_percent=30)
    router.set_routes(shadow)
    assert router.get_routes() == shadow
    assert apiserver.objects[ISVC + "-shadow"]["metadata"]["labels"]["kubeloop.io/role"] == "shadow"
    router.set_routes(ROLLOUT[0])
    assert ISVC + "-shadow" not in apiserver.objects
    assert router.get_routes() == ROLLOUT[0]


@pytest.mark.parametrize("router_name", ["istio", "gateway-api"])
def test_mesh_rollout_writes_exact_weights(apiserver: FakeApiServer, kube: KubeApi, router_name: str) -> None:
    install(kube, router_name, Routes(stable="3", shadow="4", shadow_percent=20))
    router = router_of(kube, router_name)
    path = VS if router_name == "istio" else ROUTE
    apiserver.requests.clear()
    for routes in ROLLOUT:
        router.set_routes(routes)
        assert router.get_routes() == routes
    writes = apiserver.writes()
    assert [(w.method, w.path) for w in writes] == [("PUT", path)] * 4
    assert [weights(router_name, w.body) for w in writes] == [
        [("iris-v3", 90), ("iris-v4", 10)],
        [("iris-v3", 75), ("iris-v4", 25)],
        [("iris-v3", 50), ("iris-v4", 50)],
        [("iris-v4", 100)],
    ]
    assert all(mirror(router_name, w.body) is None for w in writes)


@pytest.mark.parametrize("router_name", ["istio", "gateway-api"])
def test_mesh_rollback_and_shadow_percent(apiserver: FakeApiServer, kube: KubeApi, router_name: str) -> None:
    install(kube, router_name, Routes(stable="3"))
    router = router_of(kube, router_name)
    router.set_routes(Routes(stable="3", shadow="4", shadow_percent=20))
    router.set_routes(ROLLOUT[2])
    apiserver.requests.clear()
    router.set_routes(Routes(stable="3"))
    (write,) = apiserver.writes()
    assert weights(router_name, write.body) == [("iris-v3", 100)]
    assert router.get_routes() == Routes(stable="3")
    router.set_routes(Routes(stable="3", shadow="4", shadow_percent=20))
    assert mirror(router_name, apiserver.writes()[-1].body) == ("iris-v4", 20)


@pytest.mark.parametrize("router_name", ["istio", "gateway-api"])
def test_conflict_is_retried_with_a_fresh_read(
    apiserver: FakeApiServer, kube: KubeApi, router_name: str
) -> None:
    install(kube, router_name, Routes(stable="3"))
    router = router_of(kube, router_name)
    path = VS if router_name == "istio" else ROUTE
    apiserver.requests.clear()
    apiserver.fail("PUT", path, 409)
    router.set_routes(ROLLOUT[0])
    assert [(r.method, r.path) for r in apiserver.requests] == [
        ("GET", path),
        ("GET", path),
        ("PUT", path),
        ("GET", path),
        ("PUT", path),
    ]
    assert router.get_routes() == ROLLOUT[0]


def test_router_on_a_deleted_object_raises_gone(apiserver: FakeApiServer, kube: KubeApi) -> None:
    install(kube, "istio", Routes(stable="3"))
    router = router_of(kube, "istio")
    apiserver.fail("PUT", VS, 404)
    with pytest.raises(Gone):
        router.set_routes(ROLLOUT[0])


def weights(router_name: str, obj: dict) -> list[tuple[str, int]]:
    if router_name == "istio":
        route = obj["spec"]["http"][0]["route"]
        return [(d["destination"]["host"].split("-predictor")[0], d["weight"]) for d in route if d["weight"]]
    backends = obj["spec"]["rules"][0]["backendRefs"]
    return [(b["name"].removesuffix("-predictor"), b["weight"]) for b in backends if b["weight"]]


def mirror(router_name: str, obj: dict) -> tuple[str, int] | None:
    if router_name == "istio":
        http = obj["spec"]["http"][0]
        if "mirror" not in http:
            return None
        return http["mirror"]["host"].split("-predictor")[0], round(http["mirrorPercentage"]["value"])
    filters = obj["spec"]["rules"][0].get("filters", [])
    if not filters:
        return None
    found = filters[0]["requestMirror"]
    return found["backendRef"]["name"].removesuffix("-predictor"), found["percent"]


def test_parsers_ignore_foreign_routes() -> None:
    spec = deployment("istio")
    assert istio.routes_from_virtual_service(spec, {"spec": {"http": [{"name": "other"}]}}) is None
    assert (
        gateway_api.routes_from_http_route(spec, {"spec": {"rules": [{"backendRefs": [{"name": "x"}]}]}})
        is None
    )
