"""The log collector on loopback: KServe logger events in, prediction logs out; shadow replays by id."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from aiohttp import web

from kubeloop.local.processes import free_port
from kubeloop.predlog.reader import read_predictions

pytestmark = pytest.mark.e2e
QUERY = "deployment=iris&model=iris-classifier&version=3&role=champion"



@pytest.fixture
def shadow_server() -> Iterator[str]:
    """A real HTTP model server standing in for the shadow: answers 1 for every row."""
    import asyncio
    import threading

    async def predict(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"predictions": [1 for _ in body["instances"]]})

    app = web.Application()
    app.router.add_post("/v1/models/iris-shadow:predict", predict)
    port = free_port()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}/v1/models/iris-shadow:predict"
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.run_until_complete(runner.cleanup())
    loop.close()


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("collector-home")


@pytest.fixture(scope="module")
def collector(logs: Path) -> Iterator[str]:
    """One collector process for the module (it takes seconds to import), its state in a temporary home."""
    port = free_port()
    log = logs / "collector.log"  # a file, not a pipe: nobody reads a pipe while the collector runs
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "kubeloop.serving.collector", "--host", "127.0.0.1", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=out,
            env={**os.environ, "KUBELOOP_HOME": str(logs)},
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        process.kill()
        process.wait(10)
        pytest.fail(f"collector did not start: {log.read_text(errors='replace')[-2000:]}")
    yield url
    process.terminate()
    process.wait(10)


def logger_headers(kind: str, request_id: str) -> dict[str, str]:
    """The headers of a binary-mode event as KServe's request logger (cloudevents sdk-go) sends them."""
    return {
        "ce-specversion": "1.0",
        "ce-id": request_id,
        "ce-source": "http://localhost:9081/",
        "ce-type": f"org.kubeflow.serving.inference.{kind}",
        "ce-time": "2026-01-05T10:00:00.123456789Z",
        "ce-recordedtime": "2026-01-05T10:00:00.2Z",
        "ce-inferenceservicename": "iris",
        "ce-namespace": "default",
        "ce-component": "predictor",
        "ce-endpoint": "default",
        "ce-metadata": "{}",
        "content-type": "application/json",
    }


def post_event(url: str, kind: str, request_id: str, body: dict, query: str = QUERY) -> httpx.Response:
    headers = logger_headers(kind, request_id)
    return httpx.post(f"{url}/events?{query}", content=json.dumps(body), headers=headers, timeout=5)


def test_logger_events_become_prediction_records(collector: str, logs: Path) -> None:
    for i in range(5):
        assert (
            post_event(collector, "request", f"r{i}", {"instances": [[5.1, 3.5], [6.0, 2.9]]}).status_code
            == 202
        )
        assert post_event(collector, "response", f"r{i}", {"predictions": [0, 1]}).status_code == 202
    frame = read_predictions(logs / "predictions", "iris", version="3")
    assert len(frame) == 10 and set(frame["request_id"]) == {f"r{i}" for i in range(5)}
    assert list(frame["prediction"][:2]) == [0, 1] and set(frame["role"]) == {"champion"}
    assert "input.0" in frame.columns


def test_shadow_replays_are_logged_under_the_callers_id(
    collector: str, shadow_server: str, logs: Path
) -> None:
    params = dict(httpx.QueryParams(QUERY.replace("iris", "iris-shadowed", 1)))
    query = str(
        httpx.QueryParams({**params, "mirror": shadow_server, "mirrorPercent": "100", "shadowVersion": "4"})
    )
    for i in range(4):
        post_event(collector, "request", f"s{i}", {"instances": [[1.0, 2.0]]}, query=query)
        post_event(collector, "response", f"s{i}", {"predictions": [0]}, query=query)
    deadline = time.time() + 10
    while time.time() < deadline:
        frame = read_predictions(logs / "predictions", "iris-shadowed")
        if len(frame[frame["role"] == "shadow"]) == 4:
            break
        time.sleep(0.1)
    shadow = frame[frame["role"] == "shadow"]
    champion = frame[frame["role"] == "champion"]
    assert sorted(shadow["request_id"]) == sorted(champion["request_id"]) == [f"s{i}" for i in range(4)]
    assert set(shadow["version"]) == {"4"} and set(shadow["prediction"]) == {1}
    metrics = httpx.get(collector + "/metrics").text
    assert 'kubeloop_collector_mirrors_total{result="ok"} 4.0' in metrics


@pytest.mark.parametrize(
    ("headers", "body", "message"),
    [
        (logger_headers("request", "x"), b"{not json", "not valid JSON"),
        ({"ce-type": "org.kubeflow.serving.inference.request"}, b"{}", "ce-id"),
        (logger_headers("request", "x"), b'{"rows": []}', "instances"),
        ({"content-type": "text/plain"}, b"{}", "not a CloudEvent"),
    ],
)
def test_bad_events_get_400_with_a_json_message(
    collector: str, headers: dict, body: bytes, message: str
) -> None:
    response = httpx.post(f"{collector}/events?{QUERY}", content=body, headers=headers, timeout=5)
    assert response.status_code == 400 and message in response.json()["error"]


def test_a_model_servers_batch_is_stored_and_a_bad_member_named(collector: str, logs: Path) -> None:
    from kubeloop.predlog import CloudEventsSink, PredictionRecord

    records = [PredictionRecord(request_id=f"b{i}", timestamp=1.7e9 + i, deployment="iris-batch", model="m",
                                version="3", role="champion", inputs=[{"a": float(i)}], outputs=[i % 2])
               for i in range(3)]
    sink = CloudEventsSink(f"{collector}/events")
    try:
        assert sink.write(records) == 3
    finally:
        sink.close()
    frame = read_predictions(logs / "predictions", "iris-batch")
    assert list(frame["request_id"]) == ["b0", "b1", "b2"] and list(frame["prediction"]) == [0, 1, 0]
    good = {"specversion": "1.0", "id": "x", "source": "s", "type": "io.kubeloop.prediction", "data": {}}
    bad = [good, {key: value for key, value in good.items() if key != "id"}]
    refused = httpx.post(f"{collector}/events", content=json.dumps(bad),
                         headers={"content-type": "application/cloudevents-batch+json"}, timeout=5)
    assert refused.status_code == 400
    assert refused.json()["error"] == "event [1]: not a valid CloudEvent: missing the attributes id"


def label_event(subject: str, data: object) -> dict:
    return {"specversion": "1.0", "id": f"labels-{time.time()}", "source": "labeling-tool",
            "type": "io.kubeloop.label", "subject": subject, "data": data}


def test_label_events_are_stored_beside_the_logs_and_counted(collector: str, logs: Path) -> None:
    from kubeloop.labels import LocalLabelStore

    for i in range(3):
        post_event(collector, "request", f"q{i}", {"instances": [[5.1, 3.5]]})
        post_event(collector, "response", f"q{i}", {"predictions": [i % 2]})
    batch = [label_event("iris", [{"request_id": "q0", "label": 0}, {"request_id": "q1", "label": 1}]),
             label_event("iris", {"request_id": "q-unknown", "label": 1})]
    stored = httpx.post(f"{collector}/events", content=json.dumps(batch),
                        headers={"content-type": "application/cloudevents-batch+json"}, timeout=5)
    assert stored.status_code == 202
    assert stored.json() == {"received": 3, "new": 3, "duplicate": 0, "changed": 0}
    binary = {"ce-specversion": "1.0", "ce-id": "l2", "ce-source": "labeling-tool",
              "ce-type": "io.kubeloop.label", "ce-subject": "iris", "content-type": "application/json"}
    again = httpx.post(f"{collector}/events", content=json.dumps([{"request_id": "q0", "label": 0}]),
                       headers=binary, timeout=5)
    assert again.json()["duplicate"] == 1
    unknown = httpx.post(f"{collector}/events", content=json.dumps(label_event("tulips", [])),
                         headers={"content-type": "application/cloudevents+json"}, timeout=5)
    assert unknown.status_code == 404 and "no predictions logged for deployment 'tulips'" in unknown.text
    wrong = label_event("iris", [{"request_id": "q2", "label": [1]}])
    nested = httpx.post(f"{collector}/events", content=json.dumps(wrong),
                        headers={"content-type": "application/cloudevents+json"}, timeout=5)
    assert nested.status_code == 422 and "[0].label: expected a class name" in nested.text
    store = LocalLabelStore(logs / "predictions")
    assert store.status("iris") == {"new": 3, "duplicate": 1, "changed": 0, "refused": 1, "stored": 3,
                                    "matched": 2, "unmatched": 1}
    joined = store.read("iris", 0, time.time() + 1)
    assert sorted(joined["request_id"]) == ["q0", "q1"] and (joined["label"] == joined["prediction"]).all()
    metrics = httpx.get(collector + "/metrics").text
    assert 'kubeloop_labels_received_total{deployment="iris",outcome="new"} 3.0' in metrics
    assert 'kubeloop_labels_received_total{deployment="iris",outcome="refused"} 1.0' in metrics


def test_a_response_without_its_request_is_counted_as_a_lost_record(collector: str) -> None:
    def lost() -> float:
        text = httpx.get(collector + "/metrics", timeout=5).text
        prefix = 'kubeloop_collector_unpaired_total{side="response"}'
        line = next(x for x in text.splitlines() if x.startswith(prefix))
        return float(line.rsplit(" ", 1)[1])

    before = lost()
    assert post_event(collector, "response", "never-requested", {"predictions": [1]}).status_code == 202
    assert lost() == before + 1


def wait_until_logged(logs: Path, deployment: str, *, rows: int) -> pd.DataFrame:
    """The deployment's logs once they hold `rows` rows (shadow replays land a moment later)."""
    deadline = time.time() + 10
    frame = read_predictions(logs / "predictions", deployment)
    while len(frame) < rows and time.time() < deadline:
        time.sleep(0.1)
        frame = read_predictions(logs / "predictions", deployment)
    return frame


def test_the_deployments_labeling_policy_in_the_logger_url_weighs_each_logged_row(
    collector: str, shadow_server: str, logs: Path
) -> None:
    from kubeloop.k8s.config import ClusterConfig
    from kubeloop.k8s.kserve.resources import Mirror, logger_url
    from kubeloop.labels import Label, LocalLabelStore
    from kubeloop.spec import parse_deployment

    deployment = parse_deployment({"metadata": {"name": "iris-labeled"}, "spec": {
        "model": {"name": "iris-classifier"}, "router": "kserve",
        "labeling": {"policy": "stratified", "rate": 0.2, "classRates": {"1": 1.0}}}})
    config = ClusterConfig(collector_url=f"{collector}/events")
    query = logger_url(config, deployment, version="3", role="champion").split("?", 1)[1]
    for i, predicted in enumerate([0, 1, 0]):
        post_event(collector, "request", f"p{i}", {"instances": [[5.1, 3.5]]}, query=query)
        answer = {"predictions": [predicted], "probabilities": [[0.7, 0.3]], "classes": [0, 1]}
        post_event(collector, "response", f"p{i}", answer, query=query)
    mirrored = logger_url(config, deployment, version="3", role="champion",
                          mirror=Mirror(url=shadow_server, percent=100, version="4")).split("?", 1)[1]
    post_event(collector, "request", "m0", {"instances": [[5.1, 3.5]]}, query=mirrored)
    post_event(collector, "response", "m0", {"predictions": [0]}, query=mirrored)
    frame = wait_until_logged(logs, "iris-labeled", rows=5)
    champion = frame[frame["role"] == "champion"].set_index("request_id")
    assert champion["inclusion_probability"].to_dict() == {"p0": 0.2, "p1": 1.0, "p2": 0.2, "m0": 0.2}
    assert champion.loc[["p0", "p1", "p2"], "probability.1"].tolist() == [0.3, 0.3, 0.3]
    shadow = frame[frame["role"] == "shadow"]
    assert shadow["inclusion_probability"].tolist() == [1.0]  # the shadow answered 1: all of class 1
    store = LocalLabelStore(logs / "predictions")
    store.put("iris-labeled", [Label(request_id="p0", label=0), Label(request_id="m0", label=0)])
    joined = store.read("iris-labeled", 0, time.time() + 1).set_index("request_id")
    assert joined.loc["p0", "weight"] == 5.0  # the policy's 1 / 0.2, where it weighed 1 before
    assert set(joined.loc[["m0"], "weight"]) == {1.0}  # chosen by either role: the larger probability
    bad = query.replace("labeling=", "labeling=%7B%22policy%22%3A%22sometimes%22%7D&ignored=")
    refused = post_event(collector, "request", "p9", {"instances": [[1.0, 2.0]]}, query=bad)
    assert refused.status_code == 400 and "policy" in refused.json()["error"]
