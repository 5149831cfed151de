"""One contract for every implementation of each port the controllers drive.

TrafficRouter: in memory, the kubeloop gateway (a real gateway process), KServe in Knative and in
Standard mode, Istio and the Gateway API (the cluster ones against the recording API server).
ModelServers: in memory, a mesh's per-version InferenceServices, KServe's own. StateStore: the state
file and the ModelDeployment's status. Each implementation is given the same calls and must read
back the same answers.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from apiserver import FakeApiServer

from kubeloop.analysis.results import CheckResult, Verdict
from kubeloop.errors import NotFoundError
from kubeloop.k8s.api import KubeApi
from kubeloop.k8s.config import ClusterConfig
from kubeloop.k8s.kserve.traffic import Live
from kubeloop.k8s.status_store import StatusStateStore
from kubeloop.rollout.engine import manual_promote
from kubeloop.rollout.file_store import FileStateStore
from kubeloop.rollout.plan import apply
from kubeloop.rollout.state import RolloutState, initial_state
from kubeloop.rollout.store import StateConflict, StateStore
from kubeloop.routing.base import ModelServers, RouteChange, Routes, TrafficRouter
from kubeloop.routing.factory import cluster_backend
from kubeloop.routing.gateway import GatewayRouter
from kubeloop.routing.memory import MemoryRouter, MemoryServers
from kubeloop.spec import RolloutSpec, parse_deployment

CONFIG = ClusterConfig()
NAMESPACE = "models"
ISVCS = f"/apis/serving.kserve.io/v1beta1/namespaces/{NAMESPACE}/inferenceservices"
KSERVE_CONFIG = "/api/v1/namespaces/kserve/configmaps/inferenceservice-config"
# A rollout of 4 over 3, promoted; then one of 5, rolled back: (routes, what the change means).
ROLLOUT = [
    (Routes(stable="3", shadow="4", shadow_percent=30), RouteChange.STEP),
    (Routes(stable="3", canary="4", canary_weight=10), RouteChange.STEP),
    (Routes(stable="3", canary="4", canary_weight=50), RouteChange.STEP),
    (Routes(stable="3", canary="4", canary_weight=100), RouteChange.STEP),
    (Routes(stable="4"), RouteChange.PROMOTE),
    (Routes(stable="4", canary="5", canary_weight=10), RouteChange.STEP),
    (Routes(stable="4"), RouteChange.ROLLBACK),
]


def model_deployment(name: str, router: str, runtime: str = "kserve") -> Any:
    return parse_deployment(
        {
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"model": {"name": "iris-classifier"}, "router": router, "serving": {"runtime": runtime}},
        }
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayRouter]:
    """The real gateway process, driven through its admin API (versions resolve to fixed loopback URLs)."""
    port, token = free_port(), "contract-token"
    routes_file = tmp_path_factory.mktemp("gateway") / "routes.json"
    command = [
        sys.executable,
        "-m",
        "kubeloop.serving.gateway",
        "--port",
        str(port),
        "--routes-file",
        str(routes_file),
    ]
    process = subprocess.Popen(command, env={**os.environ, "KUBELOOP_GATEWAY_TOKEN": token})
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
        yield GatewayRouter(
            admin_url=url,
            token=token,
            resolve=lambda d, v: ("iris-classifier", f"http://127.0.0.1:{9000 + int(v)}"),
        )
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "the gateway exited"
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("the gateway did not become healthy")


@dataclass
class Cluster:
    """The recording API server with the real client; `backend(name)` binds a deployment's ports."""

    server: FakeApiServer
    api: KubeApi
    router: str
    runtime: str = "kserve"

    def backend(self, name: str) -> Any:
        deployment = model_deployment(name, self.router, self.runtime)
        found = cluster_backend(deployment, api=self.api, config=CONFIG)
        for obj in found.objects(Routes(stable="3")):
            self.api.apply(obj)
        return cluster_backend(deployment, api=self.api, config=CONFIG)  # bound to the created objects


ROUTERS = ["memory", "gateway", "kserve-knative", "kserve-standard", "istio", "gateway-api"]


@pytest.fixture(params=ROUTERS)
def routers(
    request: pytest.FixtureRequest, apiserver: FakeApiServer, kube: KubeApi
) -> Callable[[str], TrafficRouter]:
    """Builds the named implementation's router of a deployment that serves version 3."""
    kind = request.param
    if kind == "memory":
        return lambda name: MemoryRouter(Routes(stable="3"))
    if kind == "gateway":
        admin = request.getfixturevalue("gateway")

        def bound(name: str) -> TrafficRouter:
            admin.set_routes(name, Routes(stable="3"))
            return admin.bound(name)

        return bound
    cluster = _cluster(kind, apiserver, kube)
    return lambda name: cluster.backend(name).router


def _cluster(kind: str, apiserver: FakeApiServer, kube: KubeApi) -> Cluster:
    if kind == "kserve-standard":
        # The cluster default (KServe's ConfigMap) puts new InferenceServices in Standard mode.
        apiserver.put_object(KSERVE_CONFIG, {"data": {"deploy": '{"defaultDeploymentMode": "Standard"}'}})
        return Cluster(server=apiserver, api=kube, router="kserve", runtime="mlflow")
    return Cluster(
        server=apiserver, api=kube, router=kind.removeprefix("kserve-").replace("knative", "kserve")
    )


def test_routes_read_back_at_every_step_of_a_promotion_and_a_rollback(
    routers: Callable[[str], TrafficRouter],
) -> None:
    router = routers("iris")
    assert router.get_routes() == Routes(stable="3")
    for routes, change in ROLLOUT:
        router.set_routes(routes, change=change)
        assert router.get_routes() == routes, (routes, change)
        router.set_routes(routes, change=change)
        assert router.get_routes() == routes, "setting the same routes again changes nothing"


def test_a_deployments_router_leaves_other_deployments_alone(routers: Callable[[str], TrafficRouter]) -> None:
    iris, wine = routers("iris"), routers("wine")
    iris.set_routes(Routes(stable="3", canary="4", canary_weight=25))
    assert wine.get_routes() == Routes(stable="3")
    assert iris.get_routes() == Routes(stable="3", canary="4", canary_weight=25)


@dataclass
class Servers:
    """One implementation's servers and router for `iris`, how to see a version served, how pods come up."""

    servers: ModelServers
    router: TrafficRouter
    serves: Callable[[str], bool]
    come_up: Callable[[str], None]


SERVERS = ["memory", "kserve-knative", "kserve-standard", "istio", "gateway-api"]


@pytest.fixture(params=SERVERS)
def servers(request: pytest.FixtureRequest, apiserver: FakeApiServer, kube: KubeApi) -> Servers:
    kind = request.param
    if kind == "memory":
        router = MemoryRouter(Routes(stable="3"))
        memory = MemoryServers(router, running={"3"}, instant=False)
        return Servers(memory, router, serves=memory.ready, come_up=memory.come_up)
    cluster = _cluster(kind, apiserver, kube)
    backend = cluster.backend("iris")
    if kind.startswith("kserve"):
        live = lambda: Live.of(apiserver.objects.get(f"{ISVCS}/iris"))  # noqa: E731

        def serves(version: str) -> bool:
            found = live()
            return version == found.serving or version in dict(found.canaries)

        return Servers(backend.servers, backend.router, serves=serves, come_up=lambda version: None)

    def ready(version: str) -> None:
        path = f"{ISVCS}/iris-v{version}"
        apiserver.put_object(
            path, {**apiserver.objects[path], "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
        )

    return Servers(
        backend.servers,
        backend.router,
        serves=lambda v: f"{ISVCS}/iris-v{v}" in apiserver.objects,
        come_up=ready,
    )


def test_a_started_server_serves_until_no_route_names_it(servers: Servers) -> None:
    servers.servers.start("4")
    servers.come_up("4")
    assert servers.servers.ready("4")
    servers.router.set_routes(Routes(stable="3", canary="4", canary_weight=10))
    assert servers.serves("4")
    servers.servers.retire("4")
    assert servers.serves("4"), "a routed version is never retired"
    servers.router.set_routes(Routes(stable="3"), change=RouteChange.ROLLBACK)
    assert servers.router.get_routes() == Routes(stable="3")
    servers.servers.retire("4")
    assert not servers.serves("4") and servers.serves("3")
    servers.servers.retire("4")
    assert servers.router.get_routes() == Routes(stable="3"), "retiring twice changes nothing"


STORES = ["file", "status"]
SPEC = RolloutSpec.model_validate({"shadow": None})


@pytest.fixture(params=STORES)
def stores(
    request: pytest.FixtureRequest, tmp_path: Path, apiserver: FakeApiServer, kube: KubeApi
) -> Callable[[], StateStore]:
    """Builds a store (each one is another writer) over the same storage."""
    if request.param == "file":
        return lambda: FileStateStore(tmp_path)
    apiserver.put_object(
        f"/apis/kubeloop.io/v1alpha1/namespaces/{NAMESPACE}/modeldeployments/iris",
        {
            "apiVersion": "kubeloop.io/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": "iris", "namespace": NAMESPACE},
        },
    )
    return lambda: StatusStateStore(api=kube, namespace=NAMESPACE)


def rollout(challenger: str = "2", *, at: float = 100.0) -> RolloutState:
    """A promoted rollout: actions pending, a decision with checks, the old champion's retirement ahead."""
    state = initial_state(
        deployment="iris", model="iris-classifier", champion="1", challenger=challenger, spec=SPEC, now=at
    )
    after = apply(state, manual_promote(state), now=at + 1)
    check = CheckResult(
        name="error-rate", kind="error-rate", verdict=Verdict.PASS, value=0.0, threshold=0.01, samples=9
    )
    return after.evolve(history=(after.history[-1].model_copy(update={"checks": (check,)}),))


def test_a_store_starts_empty(stores: Callable[[], StateStore]) -> None:
    store = stores()
    assert store.load("iris") is None
    with pytest.raises(NotFoundError, match="iris"):
        store.require("iris")


def test_a_saved_state_loads_back_whole(stores: Callable[[], StateStore]) -> None:
    store, state = stores(), rollout()
    assert state.pending and state.history[0].checks and state.retirement is not None
    with store.lock("iris"):
        store.load("iris")
        store.save(state)
    assert stores().load("iris") == state


def test_a_writer_that_read_before_another_wrote_is_refused_and_reads_again(
    stores: Callable[[], StateStore],
) -> None:
    first, second = stores(), stores()
    first.load("iris")
    first.save(rollout())
    first_state, second_state = first.require("iris"), second.require("iris")
    first.save(first_state.evolve(pending=()))
    with pytest.raises(StateConflict):
        second.save(second_state.evolve(failures=1))
    fresh = second.require("iris")
    assert fresh.pending == () and fresh.failures == 0, "the first writer's update is kept"
    second.save(fresh.evolve(failures=1))
    assert first.require("iris").failures == 1 and first.require("iris").pending == ()


def test_a_finished_rollout_is_set_aside_for_the_next(stores: Callable[[], StateStore]) -> None:
    store = stores()
    store.load("iris")
    store.save(rollout("2"))
    store.archive("iris")
    store.save(rollout("3", at=500.0))
    assert stores().require("iris").challenger == "3"
