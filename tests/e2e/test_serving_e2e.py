"""Serving end to end: real KServe and BentoML servers and the gateway on loopback, a real MLflow registry.

Given two registered iris versions (1: logistic regression, champion; 2: random forest), the module
starts a KServe server for each, a BentoML server for version 1 and the gateway, then drives them
over HTTP like clients do.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubeloop.errors import IntegrityError
from kubeloop.local import processes
from kubeloop.predlog import read_predictions
from kubeloop.registry.mlflow_registry import MlflowRegistry
from kubeloop.routing.base import Routes
from kubeloop.routing.gateway import GatewayRouter
from kubeloop.serving.core.model import load_registered
from kubeloop.serving.testing import IRIS_COLUMNS, iris_frame, register_iris
from kubeloop.settings import Settings, load_settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
MODEL = "iris-classifier"


@dataclass(frozen=True)
class Stack:
    settings: Settings
    kserve_v1: processes.ProcessRecord
    kserve_v2: processes.ProcessRecord
    bento_v1: processes.ProcessRecord
    gateway: processes.ProcessRecord
    router: GatewayRouter


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("serving-home")
    settings_ = load_settings({"KUBELOOP_HOME": str(home)}).ensure_dirs()
    assert register_iris(settings_, name=MODEL, kind="logreg") == "1"
    assert register_iris(settings_, name=MODEL, kind="forest", aliases=("challenger",)) == "2"
    started: list[processes.ProcessRecord] = []
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            futures = [
                pool.submit(
                    processes.start_server,
                    settings_,
                    deployment="iris",
                    model=MODEL,
                    version=v,
                    runtime="kserve",
                    timeout=180,
                )
                for v in ("1", "2")
            ] + [
                pool.submit(
                    processes.start_server,
                    settings_,
                    deployment="iris-bento",
                    model=MODEL,
                    version="1",
                    runtime="bentoml",
                    timeout=180,
                )
            ]
            kserve_v1, kserve_v2, bento_v1 = (f.result() for f in futures)
        started += [kserve_v1, kserve_v2, bento_v1]
        gateway = processes.start_gateway(settings_)
        started.append(gateway)
        router = GatewayRouter.from_settings(settings_)
        yield Stack(settings_, kserve_v1, kserve_v2, bento_v1, gateway, router)
    finally:
        for record in [*processes.server_records(settings_), processes.gateway_record(settings_), *started]:
            if record is not None:
                processes.stop(record)


def rows(count: int = 30) -> list[list[float]]:
    frame = iris_frame().sample(count, random_state=1)
    return frame[list(IRIS_COLUMNS)].to_numpy().tolist()


def post(url: str, payload: Any, **kwargs: Any) -> httpx.Response:
    return httpx.post(
        url,
        content=json.dumps(payload),
        headers={"content-type": "application/json", **kwargs.pop("headers", {})},
        timeout=30,
    )


def v1(record: processes.ProcessRecord) -> str:
    return f"{record.url}/v1/models/{MODEL}:predict"


def v2(record: processes.ProcessRecord) -> str:
    return f"{record.url}/v2/models/{MODEL}/infer"


def test_both_runtimes_give_identical_answers_in_every_format(stack: Stack) -> None:
    batch = rows()
    records = [dict(zip(IRIS_COLUMNS, row, strict=True)) for row in batch]
    flat = [value for row in batch for value in row]
    answers = {}
    for name, server in (("kserve", stack.kserve_v1), ("bentoml", stack.bento_v1)):
        by_format = {
            "instances": post(v1(server), {"instances": batch}).json(),
            "records": post(v1(server), {"dataframe_records": records}).json(),
            "instance-objects": post(v1(server), {"instances": records}).json(),
        }
        matrix = {"name": "input-0", "shape": [len(batch), 4], "datatype": "FP64", "data": flat}
        tensor = post(v2(server), {"inputs": [matrix]}).json()
        per_column = post(
            v2(server),
            {
                "inputs": [
                    {"name": c, "shape": [len(batch)], "datatype": "FP64", "data": [r[i] for r in batch]}
                    for i, c in enumerate(IRIS_COLUMNS)
                ]
            },
        ).json()
        assert tensor["outputs"] == per_column["outputs"]
        assert tensor["outputs"][0]["data"] == by_format["instances"]["predictions"]
        assert by_format["instances"] == by_format["records"] == by_format["instance-objects"]
        answers[name] = by_format["instances"]
    assert answers["kserve"] == answers["bentoml"]
    assert len(answers["kserve"]["predictions"]) == len(batch)
    assert answers["kserve"]["classes"] == ["setosa", "versicolor", "virginica"]
    native = post(f"{stack.bento_v1.url}/predict", {"instances": batch}).json()
    assert native == answers["bentoml"]


def test_a_standard_open_inference_protocol_client(stack: Stack) -> None:
    import tritonclient.http as oip

    client = oip.InferenceServerClient(url=stack.kserve_v1.url.removeprefix("http://"))
    try:
        assert client.is_server_ready() and client.is_model_ready(MODEL)
        meta = client.get_model_metadata(MODEL)
        assert [i["name"] for i in meta["inputs"]] == list(IRIS_COLUMNS)
        data = np.array(rows(5), dtype=np.float64)
        tensor = oip.InferInput("input-0", list(data.shape), "FP64")
        tensor.set_data_from_numpy(data, binary_data=False)
        outputs = [oip.InferRequestedOutput(n, binary_data=False) for n in ("predictions", "probabilities")]
        result = client.infer(MODEL, inputs=[tensor], outputs=outputs)
        binary = oip.InferInput("input-0", list(data.shape), "FP64")
        binary.set_data_from_numpy(data)  # the client's default: raw tensor bytes after a JSON header
        default = client.infer(MODEL, inputs=[binary])
    finally:
        client.close()
    expected = post(v1(stack.kserve_v1), {"instances": rows(5)}).json()
    assert result.as_numpy("predictions").astype(str).tolist() == expected["predictions"]
    assert np.allclose(result.as_numpy("probabilities"), expected["probabilities"])
    assert default.as_numpy("predictions").astype(str).tolist() == expected["predictions"]


BAD_REQUESTS = [
    (b"{not json", 400, "malformed JSON"),
    (json.dumps({"records": [{"sepal_length": 1.0}]}).encode(), 400, "missing columns"),
    (
        json.dumps({"records": [dict(zip([*IRIS_COLUMNS, "x"], [1.0] * 5, strict=True))]}).encode(),
        400,
        "unknown columns ['x']",
    ),
    (
        json.dumps({"instances": [[1.0, "a", 1.0, 1.0]]}).encode(),
        400,
        "column 'sepal_width': expected number",
    ),
    (b'{"instances": [[NaN, 1.0, 1.0, 1.0]]}', 400, "nan is not allowed"),
    (json.dumps({"instances": []}).encode(), 400, "empty batch"),
    (json.dumps({"instances": [[1.0] * 4] * 200_000}).encode(), 413, "exceeds the limit"),
]


@pytest.mark.parametrize("runtime", ["kserve", "bentoml"])
def test_bad_input_is_a_4xx_naming_the_problem(stack: Stack, runtime: str) -> None:
    server = stack.kserve_v1 if runtime == "kserve" else stack.bento_v1
    for body, status, message in BAD_REQUESTS:
        answer = httpx.post(v1(server), content=body, timeout=30)
        assert (answer.status_code, runtime) == (status, runtime), answer.text
        assert message in answer.json()["error"]
    unknown = post(f"{server.url}/v1/models/nope:predict", {"instances": rows(1)})
    assert unknown.status_code == 404 and "unknown model 'nope'" in unknown.json()["error"]
    assert post(v1(server), {"instances": rows(1)}).status_code == 200  # still up


json_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4)
json_body = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(
            st.sampled_from(["instances", "inputs", "records", "name", "shape", "data", *IRIS_COLUMNS]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=25,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=json_body)
def test_fuzzed_bodies_never_get_a_5xx(stack: Stack, body: Any) -> None:
    answer = httpx.post(v2(stack.kserve_v1), content=json.dumps(body), timeout=30)
    assert answer.status_code < 500, answer.text


def test_a_tampered_artifact_is_refused_at_load(stack: Stack, tmp_path: Path) -> None:
    version = register_iris(stack.settings, name="tampered-iris", aliases=())
    registry = MlflowRegistry(tracking_uri=stack.settings.tracking_uri)
    location = registry._client.get_model_version_download_uri("tampered-iris", version)
    model_file = next(Path(location.removeprefix("file://")).rglob("model.pkl"))
    model_file.write_bytes(model_file.read_bytes() + b"\0")
    with pytest.raises(IntegrityError, match="does not match the registered"):
        load_registered(stack.settings, name="tampered-iris", ref=version)


def test_gateway_splits_traffic_by_weight(stack: Stack) -> None:
    stack.router.set_routes("iris", Routes(stable="1", canary="2", canary_weight=25))
    assert stack.router.get_routes("iris") == Routes(stable="1", canary="2", canary_weight=25)
    versions = asyncio.run(_send_many(f"{stack.gateway.url}/v1/models/iris:predict", 2000, concurrency=8))
    assert set(versions) <= {"1", "2"} and len(versions) == 2000
    share = versions.count("2") / len(versions)
    assert abs(share - 0.25) < 0.04  # about 4 standard deviations for n=2000


async def _send_many(url: str, count: int, *, concurrency: int) -> list[str]:
    body = json.dumps({"instances": rows(1)})
    found: list[str] = []
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker(n: int) -> None:
            for _ in range(n):
                answer = await client.post(url, content=body)
                assert answer.status_code == 200, answer.text
                found.append(answer.headers["x-kubeloop-version"])

        await asyncio.gather(*(worker(count // concurrency) for _ in range(concurrency)))
    return found


def test_mirrored_requests_are_logged_by_both_versions_with_one_request_id(stack: Stack) -> None:
    stack.router.set_routes("iris", Routes(stable="1", shadow="2", shadow_percent=100))
    since = time.time() - 1
    ids = [f"mirror-{i}" for i in range(40)]
    for request_id in ids:
        answer = post(
            f"{stack.gateway.url}/v1/models/iris:predict",
            {"instances": rows(2)},
            headers={"x-request-id": request_id},
        )
        assert answer.status_code == 200 and answer.headers["x-kubeloop-version"] == "1"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        frame = read_predictions(stack.settings, "iris", since=since)
        frame = frame[frame["request_id"].isin(ids)]
        if len(frame) == 2 * 2 * len(ids):
            break
        time.sleep(0.3)
    champion = frame[frame["role"] == "champion"]
    shadow = read_predictions(stack.settings, "iris", version="2", role="shadow", since=since)
    assert set(champion["request_id"]) == set(ids) and set(champion["version"]) == {"1"}
    assert set(ids) <= set(shadow["request_id"])
    assert {"input.sepal_length", "prediction", "probability.setosa"} <= set(shadow.columns)
    metrics = httpx.get(f"{stack.kserve_v2.url}/metrics").text
    assert 'role="shadow",status="200",version="2"' in metrics


def test_a_down_shadow_does_not_change_the_callers_status(stack: Stack) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    document = {
        "model": MODEL,
        "stable": {"version": "1", "url": stack.kserve_v1.url},
        "shadow": {"version": "9", "url": f"http://127.0.0.1:{closed}"},
        "shadow_percent": 100,
    }
    token = processes.gateway_token(stack.settings)
    admin = httpx.put(
        f"{stack.gateway.url}/admin/routes/iris", json=document, headers={"authorization": f"Bearer {token}"}
    )
    assert admin.status_code == 200
    statuses = {
        post(f"{stack.gateway.url}/v1/models/iris:predict", {"instances": rows(1)}).status_code
        for _ in range(30)
    }
    bad = httpx.post(f"{stack.gateway.url}/v1/models/iris:predict", content=b"{x")
    assert statuses == {200}
    assert bad.status_code == 400 and "malformed JSON" in bad.json()["error"]


def test_both_runtimes_export_requests_and_the_prediction_log_queue(stack: Stack) -> None:
    for server in (stack.kserve_v1, stack.bento_v1):
        assert post(v1(server), {"instances": rows(3)}).status_code == 200
    time.sleep(1.5)  # the prediction log flushes and its counters sync (multiprocess mode) once a second

    for server in (stack.kserve_v1, stack.bento_v1):
        exported = httpx.get(f"{server.url}/metrics").text
        written = re.search(r"^kubeloop_predlog_written_total(?:{[^}]*})? (\S+)$", exported, re.MULTILINE)
        assert 'kubeloop_requests_total{' in exported and 'status="200"' in exported, server.kind
        assert written and float(written.group(1)) >= 1, f"{server.kind}: no prediction-log counters"
        assert "kubeloop_predlog_queue_depth" in exported, server.kind
