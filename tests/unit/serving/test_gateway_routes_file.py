"""The routes file and the admin API's route document: each field's error, round trips, older files."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from kubeloop.serving.gateway.app import Gateway
from kubeloop.serving.gateway.http import Request, Response
from kubeloop.serving.gateway.routes import Backend, Route, RouteError, dump_routes, load_routes, parse_route

STABLE = {"version": "1", "url": "http://127.0.0.1:9001"}
CANARY = {"version": "2", "url": "http://127.0.0.1:9002"}

# A routes file exactly as the gateway wrote it before its routes were pydantic models.
WRITTEN_BEFORE = """{
  "iris": {
    "deployment": "iris",
    "model": "iris-classifier",
    "stable": {"version": "3", "url": "http://127.0.0.1:8081", "protocol": "kserve"},
    "canary": {"version": "4", "url": "http://127.0.0.1:8082", "protocol": "kserve"},
    "canary_weight": 25,
    "shadow": {"version": "5", "url": "http://127.0.0.1:8083", "protocol": "mlflow"},
    "shadow_percent": 100,
    "sticky_header": "x-user"
  },
  "wine": {
    "deployment": "wine",
    "model": "wine-regressor",
    "stable": {"version": "1", "url": "http://127.0.0.1:9001", "protocol": "kserve"},
    "canary": null,
    "canary_weight": 0,
    "shadow": null,
    "shadow_percent": 0,
    "sticky_header": null
  }
}"""


@pytest.mark.parametrize(("document", "message"), [
    ({"stable": STABLE}, "model: the registered model name is required"),
    ({"model": "", "stable": STABLE}, "model: the registered model name is required"),
    ({"model": 7, "stable": STABLE}, "model: the registered model name is required"),
    ({"model": "m"}, "stable: Field required"),
    ({"model": "m", "stable": "http://127.0.0.1:9001"}, "stable: Input should be a dictionary"),
    ({"model": "m", "stable": {"url": "http://h:1"}}, "stable.version: Field required"),
    ({"model": "m", "stable": {"version": "1", "url": "ftp://x"}},
     "stable.url: expected http://host:port, got 'ftp://x'"),
    ({"model": "m", "stable": {"version": "1", "url": "http://h:1/predict"}},
     "stable.url: expected http://host:port, got 'http://h:1/predict'"),
    ({"model": "m", "stable": {**STABLE, "protocol": "grpc"}},
     "stable.protocol: expected one of ['kserve', 'mlflow'], got 'grpc'"),
    ({"model": "m", "stable": STABLE, "canary": {"version": "2", "url": "h:2"}, "canary_weight": 5},
     "canary.url: expected http://host:port, got 'h:2'"),
    ({"model": "m", "stable": STABLE, "canary": CANARY, "canary_weight": 101},
     "canary_weight: expected an integer 0..100, got 101"),
    ({"model": "m", "stable": STABLE, "canary": CANARY, "canary_weight": "5"},
     "canary_weight: expected an integer 0..100, got '5'"),
    ({"model": "m", "stable": STABLE, "canary": CANARY, "canary_weight": True},
     "canary_weight: expected an integer 0..100, got True"),
    ({"model": "m", "stable": STABLE, "canary_weight": 10}, "canary_weight: a weight needs a canary backend"),
    ({"model": "m", "stable": STABLE, "shadow": CANARY, "shadow_percent": -1},
     "shadow_percent: expected an integer 0..100, got -1"),
    ({"model": "m", "stable": STABLE, "shadow_percent": 10},
     "shadow_percent: a mirror percent needs a shadow backend"),
    ({"model": "m", "stable": STABLE, "sticky_header": 5}, "sticky_header: Input should be a valid string"),
    ({"model": "m", "stable": STABLE, "weight": 1, "mirror": 2}, "unknown fields ['mirror', 'weight']"),
    ({"model": "m", "stable": {**STABLE, "port": 1}}, "stable: unknown fields ['port']"),
    ([STABLE], "expected a JSON object"),
])
def test_each_field_is_named_in_its_error(document: Any, message: str) -> None:
    with pytest.raises(RouteError) as refused:
        parse_route("iris", document)
    assert str(refused.value).startswith(message)


def test_a_refused_canary_is_the_only_problem_named() -> None:
    with pytest.raises(RouteError) as refused:
        parse_route("iris", {"model": "m", "stable": STABLE, "canary": {"version": "2"}, "canary_weight": 5})
    assert str(refused.value) == "canary.url: Field required"


def test_a_document_is_normalised_as_before() -> None:
    route = parse_route("iris", {"deployment": "other", "model": "m", "stable": {"version": 3,
                                 "url": "http://127.0.0.1:9001/"}, "sticky_header": "X-User", "canary": None})
    assert route.deployment == "iris"  # the admin path's name wins over the body's
    assert route.stable == Backend(version="3", url="http://127.0.0.1:9001")
    assert route.stable.address == ("127.0.0.1", 9001)
    assert route.sticky_header == "x-user"
    assert parse_route("iris", {"model": "m", "stable": STABLE, "sticky_header": ""}).sticky_header is None


def test_save_then_load_gives_the_same_routes() -> None:
    routes = load_routes(WRITTEN_BEFORE)
    assert load_routes(dump_routes(routes)) == routes
    assert {name: route.to_json() for name, route in routes.items()} == json.loads(WRITTEN_BEFORE)


def test_a_routes_file_written_before_loads_into_the_gateway(tmp_path: Path) -> None:
    (tmp_path / "routes.json").write_text(WRITTEN_BEFORE)
    gateway = Gateway(token="t", routes_file=tmp_path / "routes.json")
    iris = gateway.routes["iris"]
    assert iris == Route(deployment="iris", model="iris-classifier",
                         stable=Backend(version="3", url="http://127.0.0.1:8081"),
                         canary=Backend(version="4", url="http://127.0.0.1:8082"), canary_weight=25,
                         shadow=Backend(version="5", url="http://127.0.0.1:8083", protocol="mlflow"),
                         shadow_percent=100, sticky_header="x-user")
    assert gateway.routes["wine"].canary is None and gateway.routes["wine"].model == "wine-regressor"


def test_a_bad_routes_file_names_the_deployment_and_the_field(tmp_path: Path) -> None:
    document = json.loads(WRITTEN_BEFORE)
    document["wine"]["canary_weight"] = 30
    (tmp_path / "routes.json").write_text(json.dumps(document))
    with pytest.raises(RouteError, match="^wine: canary_weight: a weight needs a canary backend$"):
        Gateway(token="t", routes_file=tmp_path / "routes.json")


def test_the_admin_api_refuses_a_bad_route_with_a_400_and_keeps_the_file(tmp_path: Path) -> None:
    routes_file = tmp_path / "routes.json"
    routes_file.write_text(WRITTEN_BEFORE)
    gateway = Gateway(token="t", routes_file=routes_file)
    body = json.dumps({"model": "m", "stable": STABLE, "canary": CANARY, "canary_weight": 250}).encode()
    put = Request(method="PUT", path="/admin/routes/iris", headers={"authorization": "Bearer t"}, body=body)

    async def admin_put() -> Response:
        try:
            return await gateway.handle(put)
        finally:
            await gateway.close()

    answer = asyncio.run(admin_put())
    assert answer.status == 400
    assert json.loads(answer.body) == {
        "error": "invalid route for 'iris': canary_weight: expected an integer 0..100, got 250"}
    assert routes_file.read_text() == WRITTEN_BEFORE
    assert gateway.routes["iris"].canary_weight == 25
