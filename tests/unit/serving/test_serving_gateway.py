"""The gateway against stub backends on loopback: admin API, split, stickiness, mirroring, retry, limits."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubeloop.serving.core.limits import HttpLimits
from kubeloop.serving.gateway.app import Gateway
from kubeloop.serving.gateway.http import Request, Response
from kubeloop.serving.gateway.listener import Connections, ServerProtocol
from kubeloop.serving.gateway.routes import Backend, Route, RouteError, bucket, choose, parse_route

TOKEN = "test-token"


@dataclass
class Stub:
    """A backend that answers with its name and records what it saw."""

    name: str
    delay: float = 0.0
    seen: list[Request] = field(default_factory=list)
    port: int = 0

    async def handle(self, request: Request) -> Response:
        self.seen.append(request)
        if self.delay:
            await asyncio.sleep(self.delay)
        return Response(status=200, body=json.dumps({"from": self.name}).encode(),
                        headers=[("content-type", "application/json")])


class Harness:
    """An event loop in a thread hosting the gateway and the stubs."""

    def __init__(self, routes_file: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.gateway: Gateway = self.call(self._gateway(routes_file))
        self.servers: list[asyncio.Server] = []
        self.connections: list[Connections] = []
        self.port = self.listen(self.gateway.handle)

    async def _gateway(self, routes_file: Path) -> Gateway:
        gateway = Gateway(token=TOKEN, routes_file=routes_file, mirror_queue=4, mirror_workers=1,
                          mirror_timeout=2.0, max_body=1000, timeout=5.0)
        gateway.start()
        return gateway

    def call(self, coroutine: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(10)

    def listen(self, handler: Any) -> int:
        async def start() -> int:
            limits, connections = HttpLimits(max_body=1000), Connections(1000)
            server = await self.loop.create_server(
                lambda: ServerProtocol(handler, limits=limits, connections=connections), "127.0.0.1", 0)
            self.servers.append(server)
            self.connections.append(connections)
            return int(server.sockets[0].getsockname()[1])

        return int(self.call(start()))

    def stub(self, name: str, delay: float = 0.0) -> Stub:
        stub = Stub(name, delay)
        stub.port = self.listen(stub.handle)
        return stub

    def close(self) -> None:
        """Stop the servers, close their connections and the gateway's, end the loop and close it."""

        async def stop() -> None:
            for server in self.servers:
                server.close()
            for connections in self.connections:
                connections.close_all()
            await self.gateway.close()
            tasks = [task for task in asyncio.all_tasks(self.loop) if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.sleep(0)  # closed transports release their sockets on the next turn

        self.call(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path / "routes.json")
    yield harness
    harness.close()


def backend(stub: Stub | int, version: str) -> dict[str, str]:
    port = stub if isinstance(stub, int) else stub.port
    return {"version": version, "url": f"http://127.0.0.1:{port}"}


def put_routes(client: httpx.Client, deployment: str, document: dict[str, Any]) -> httpx.Response:
    return client.put(f"/admin/routes/{deployment}", json=document,
                      headers={"authorization": f"Bearer {TOKEN}"})


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_admin_api_needs_the_token_validates_and_persists(harness: Harness, tmp_path: Path) -> None:
    stable = harness.stub("v1")
    with httpx.Client(base_url=f"http://127.0.0.1:{harness.port}") as client:
        assert client.get("/admin/routes").status_code == 401
        assert client.get("/admin/routes", headers={"authorization": "Bearer nope"}).status_code == 401
        bad = put_routes(client, "iris", {"model": "m", "stable": backend(stable, "1"), "canary_weight": 10})
        assert bad.status_code == 400
        assert "canary_weight: a weight needs a canary backend" in bad.json()["error"]
        good = put_routes(client, "iris", {"model": "m", "stable": backend(stable, "1")})
        assert good.status_code == 200
        listed = client.get("/admin/routes", headers={"authorization": f"Bearer {TOKEN}"}).json()
        assert listed["iris"]["stable"]["version"] == "1"
    saved = json.loads((tmp_path / "routes.json").read_text())
    assert parse_route("iris", saved["iris"]).stable.url == f"http://127.0.0.1:{stable.port}"
    restarted = Gateway(token=TOKEN, routes_file=tmp_path / "routes.json")
    assert restarted.routes["iris"].model == "m"


def test_split_follows_the_weight_and_tags_role_and_request_id(harness: Harness) -> None:
    stable, canary = harness.stub("v1"), harness.stub("v2")
    with httpx.Client(base_url=f"http://127.0.0.1:{harness.port}") as client:
        put_routes(client, "iris", {"model": "iris-classifier", "stable": backend(stable, "1"),
                                    "canary": backend(canary, "2"), "canary_weight": 30})
        answers = [client.post("/v1/models/iris:predict", content=b"{}") for _ in range(600)]
        by_model = client.post("/v2/models/iris-classifier/infer", content=b"{}",
                               headers={"x-request-id": "given"})
    assert all(a.status_code == 200 for a in answers)
    share = sum(a.json()["from"] == "v2" for a in answers) / len(answers)
    assert abs(share - 0.30) < 0.07  # about 3.8 standard deviations for n=600
    assert {a.headers["x-kubeloop-role"] for a in answers} == {"champion", "challenger"}
    assert by_model.headers["x-request-id"] == "given"
    seen = stable.seen + canary.seen
    paths = {"/v1/models/iris-classifier:predict", "/v2/models/iris-classifier/infer"}
    assert {r.path for r in seen} == paths
    assert all(r.headers["x-kubeloop-role"] == "challenger" for r in canary.seen)
    assert len({r.headers["x-request-id"] for r in seen}) == len(seen)


def test_sticky_header_keeps_a_user_on_one_backend() -> None:
    route = parse_route("d", {"model": "m", "stable": {"version": "1", "url": "http://127.0.0.1:1"},
                              "canary": {"version": "2", "url": "http://127.0.0.1:2"}, "canary_weight": 50,
                              "sticky_header": "X-User"})
    picks = {choose(route, draw=draw, sticky_value="alice")[1] for draw in (0.0, 49.0, 99.0)}
    assert len(picks) == 1
    assert 0 <= bucket("alice") < 100
    users = [f"user-{i}" for i in range(1000)]
    share = sum(choose(route, draw=0.0, sticky_value=u)[1] == "challenger" for u in users) / len(users)
    assert abs(share - 0.5) < 0.08


def test_mirror_reaches_the_shadow_without_the_caller_waiting(harness: Harness) -> None:
    stable, shadow = harness.stub("v1"), harness.stub("v2", delay=1.0)
    with httpx.Client(base_url=f"http://127.0.0.1:{harness.port}") as client:
        put_routes(client, "iris", {"model": "m", "stable": backend(stable, "1"),
                                    "shadow": backend(shadow, "2"), "shadow_percent": 100})
        started = time.perf_counter()
        answers = [client.post("/v1/models/iris:predict", content=b"{}") for _ in range(10)]
        elapsed = time.perf_counter() - started
    assert all(a.status_code == 200 and a.json()["from"] == "v1" for a in answers)
    assert elapsed < 1.0  # the shadow takes 1 s per request
    deadline = time.monotonic() + 5
    while not shadow.seen and time.monotonic() < deadline:
        time.sleep(0.05)
    first = shadow.seen[0]
    assert first.headers["x-kubeloop-role"] == "shadow"
    assert first.headers["x-request-id"] in {a.headers["x-request-id"] for a in answers}
    # One worker busy for a second, a queue of 4: most of the ten copies are dropped and counted.
    assert harness.gateway.mirror_dropped >= 4


def test_shadow_down_does_not_change_the_callers_status(harness: Harness) -> None:
    stable = harness.stub("v1")
    with httpx.Client(base_url=f"http://127.0.0.1:{harness.port}") as client:
        put_routes(client, "iris", {"model": "m", "stable": backend(stable, "1"),
                                    "shadow": backend(closed_port(), "2"), "shadow_percent": 100})
        assert {client.post("/v1/models/iris:predict", content=b"{}").status_code for _ in range(20)} == {200}
        metrics = client.get("/metrics").text
    labels = 'deployment="iris",role="shadow",status="error",version="2"'
    assert f"kubeloop_gateway_requests_total{{{labels}}}" in metrics


def test_refused_canary_is_retried_on_stable(harness: Harness) -> None:
    stable = harness.stub("v1")
    with httpx.Client(base_url=f"http://127.0.0.1:{harness.port}") as client:
        put_routes(client, "iris", {"model": "m", "stable": backend(stable, "1"),
                                    "canary": backend(closed_port(), "2"), "canary_weight": 100})
        answer = client.post("/v1/models/iris:predict", content=b"{}")
        metrics = client.get("/metrics").text
    assert answer.status_code == 200 and answer.json()["from"] == "v1"
    assert 'kubeloop_gateway_retries_total{deployment="iris"} 1.0' in metrics


class _DiesMidRequest(asyncio.Protocol):
    """A backend that accepts the connection, reads the request and closes without answering."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.close()


def test_canary_that_drops_the_request_is_retried_on_stable(harness: Harness) -> None:
    stable = harness.stub("v1")

    async def start() -> int:
        server = await harness.loop.create_server(_DiesMidRequest, "127.0.0.1", 0)
        harness.servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    dying = harness.call(start())
    with httpx.Client(base_url=f"http://127.0.0.1:{harness.port}") as client:
        put_routes(client, "iris", {"model": "m", "stable": backend(stable, "1"),
                                    "canary": backend(dying, "2"), "canary_weight": 100})
        answers = [client.post("/v1/models/iris:predict", content=b"{}") for _ in range(3)]
        metrics = client.get("/metrics").text
    assert [(a.status_code, a.json()["from"]) for a in answers] == [(200, "v1")] * 3
    assert 'kubeloop_gateway_retries_total{deployment="iris"} 3.0' in metrics


def test_stable_down_is_a_502_naming_the_backend(harness: Harness) -> None:
    port = closed_port()
    with httpx.Client(base_url=f"http://127.0.0.1:{harness.port}") as client:
        put_routes(client, "iris", {"model": "m", "stable": backend(port, "1")})
        answer = client.post("/v1/models/iris:predict", content=b"{}")
    assert answer.status_code == 502 and f"127.0.0.1:{port}" in answer.json()["error"]


def test_unknown_deployment_oversize_body_and_bad_method(harness: Harness) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{harness.port}") as client:
        unknown = client.post("/v1/models/nope:predict", content=b"{}")
        assert unknown.status_code == 404 and "nope" in unknown.json()["error"]
        assert client.get("/v1/models/nope:predict").status_code == 405
        assert client.post("/v1/models/nope:predict", content=b"x" * 2000).status_code == 413
        assert client.get("/elsewhere").status_code == 404


def test_malformed_http_gets_a_400() -> None:
    harness = Harness(Path("unused-routes.json").absolute().with_name("unused-never-written.json"))
    try:
        with socket.create_connection(("127.0.0.1", harness.port), timeout=5) as sock:
            sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            assert sock.recv(200).startswith(b"HTTP/1.1 400")
    finally:
        harness.close()


def test_route_documents_are_checked() -> None:
    with pytest.raises(RouteError, match="stable.url: expected http://host:port"):
        parse_route("d", {"model": "m", "stable": {"version": "1", "url": "ftp://x"}})
    with pytest.raises(RouteError, match="unknown fields"):
        parse_route("d", {"model": "m", "stable": {"version": "1", "url": "http://h:1"}, "weight": 1})
    with pytest.raises(RouteError, match="shadow_percent: expected an integer"):
        parse_route("d", {"model": "m", "stable": {"version": "1", "url": "http://h:1"},
                          "shadow": {"version": "2", "url": "http://h:2"}, "shadow_percent": 101})
    route = Route(deployment="d", model="m", stable=Backend(version="1", url="http://h:1"))
    assert choose(route, draw=0.0) == (route.stable, "champion")


def test_gateway_router_round_trips_routes_through_the_admin_api(harness: Harness) -> None:
    from kubeloop.errors import BackendUnavailable, KubeloopError, NotFoundError
    from kubeloop.routing.base import Routes
    from kubeloop.routing.gateway import GatewayRouter

    stubs = {"1": harness.stub("v1"), "2": harness.stub("v2"), "3": harness.stub("v3")}

    def resolve(deployment: str, version: str) -> tuple[str, str]:
        if version not in stubs:
            raise NotFoundError(f"no server for {version}")
        return "iris-classifier", f"http://127.0.0.1:{stubs[version].port}"

    admin = f"http://127.0.0.1:{harness.port}"
    router = GatewayRouter(admin_url=admin, token=TOKEN, resolve=resolve)
    assert router.get_routes("iris") is None
    wanted = Routes(stable="1", canary="2", canary_weight=40, shadow="3", shadow_percent=20)
    router.set_routes("iris", wanted)
    assert router.get_routes("iris") == wanted
    assert harness.gateway.routes["iris"].shadow is not None
    router.set_routes("iris", Routes(stable="2"))
    assert router.get_routes("iris") == Routes(stable="2")
    with pytest.raises(NotFoundError):
        router.set_routes("iris", Routes(stable="9"))
    router.delete_routes("iris")
    assert router.get_routes("iris") is None
    with pytest.raises(KubeloopError, match="401"):
        GatewayRouter(admin_url=admin, token="wrong", resolve=resolve).set_routes("iris", Routes(stable="1"))
    with pytest.raises(BackendUnavailable, match="unreachable"):
        GatewayRouter(admin_url=f"http://127.0.0.1:{closed_port()}", token=TOKEN,
                      resolve=resolve).get_routes("iris")


def test_route_changes_under_load_drop_no_request(harness: Harness) -> None:
    stubs = [harness.stub(f"v{i}", delay=0.01) for i in range(3)]
    routes = [
        {"model": "m", "stable": backend(stubs[0], "1")},
        {"model": "m", "stable": backend(stubs[0], "1"), "canary": backend(stubs[1], "2"),
         "canary_weight": 50},
        {"model": "m", "stable": backend(stubs[2], "3"), "shadow": backend(stubs[1], "2"),
         "shadow_percent": 100},
    ]
    base = f"http://127.0.0.1:{harness.port}"
    with httpx.Client(base_url=base) as admin:
        put_routes(admin, "iris", routes[0])

        async def traffic() -> list[int]:
            async with httpx.AsyncClient(base_url=base) as client:
                async def one() -> int:
                    return (await client.post("/v1/models/iris:predict", content=b"{}")).status_code

                statuses: list[int] = []
                for _ in range(15):
                    statuses += await asyncio.gather(*(one() for _ in range(16)))
                return statuses

        with ThreadPoolExecutor(max_workers=1) as pool:
            running = pool.submit(asyncio.run, traffic())
            changes = 0
            while not running.done():
                assert put_routes(admin, "iris", routes[changes % 3]).status_code == 200
                changes += 1
            statuses = running.result()
    assert changes >= 3
    assert statuses == [200] * len(statuses)
    assert all(stub.seen for stub in stubs)


def test_an_mlflow_scoring_backend_gets_v1_bodies_on_invocations(harness: Harness) -> None:
    stable, shadow = harness.stub("mlflow"), harness.stub("kubeloop")
    with httpx.Client(base_url=f"http://127.0.0.1:{harness.port}") as client:
        document = {"model": "iris-classifier", "stable": {**backend(stable, "1"), "protocol": "mlflow"},
                    "shadow": backend(shadow, "2"), "shadow_percent": 100}
        assert put_routes(client, "iris", document).json()["stable"]["protocol"] == "mlflow"
        v1 = client.post("/v1/models/iris:predict", content=b'{"instances": [[1, 2, 3, 4]]}')
        v2 = client.post("/v2/models/iris/infer", content=b'{"inputs": []}')
        deadline = time.monotonic() + 5
        while len(shadow.seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)

    assert v1.status_code == 200 and v1.json() == {"from": "mlflow"}
    assert [(r.path, r.body) for r in stable.seen] == [("/invocations", b'{"instances": [[1, 2, 3, 4]]}')]
    assert v2.status_code == 400 and "speaks the mlflow protocol" in v2.json()["error"]
    # The shadow speaks V1/V2, so it is mirrored both requests on its own paths.
    assert [r.path for r in shadow.seen] == ["/v1/models/iris-classifier:predict",
                                             "/v2/models/iris-classifier/infer"]


def test_a_backend_protocol_must_be_known() -> None:
    stable = {"version": "1", "url": "http://127.0.0.1:1", "protocol": "grpc"}
    with pytest.raises(RouteError, match=r"stable.protocol: expected one of .*'mlflow'.*got 'grpc'"):
        parse_route("d", {"model": "m", "stable": stable})
