"""CloudEvents benchmark: the `cloudevents` SDK path against the hand-written code it replaced, side by side.

Cases, each timed on the same inputs in one run (median of --repeat runs, per batch or per pair):
1. build a batch: --records prediction records as a model server's `CloudEventsSink` posts them
   (`to_event` for each, then the `application/cloudevents-batch+json` body);
2. parse that batch the way the collector does (events read, label events looked for, records made);
3. one KServe request/response pair in binary mode (`ce-*` headers as KServe's request logger sends
   them), read as far as the collector reads it before pairing (type, id, JSON payload);
4. what that costs the collector process: its CPU time per pair over HTTP (a real collector in a
   subprocess writing to a real log store, --pairs pairs posted on one keep-alive connection), with
   the SDK and with the hand-written front patched in.
The baseline is a copy of the hand-written functions, kept here only (`Handwritten`).
Run: `python bench/bench_events.py [--records 1000] [--repeat 30] [--pairs 3000]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from cloudevents.http import CloudEvent, from_http

from kubeloop.labels.events import label_items
from kubeloop.predlog.cloudevents import EVENT_TYPE, records_from_events, to_event
from kubeloop.predlog.cloudevents_http import BATCH_CONTENT_TYPE, batch_body, read_events
from kubeloop.predlog.schema import PredictionRecord
from kubeloop.predlog.store import decode_record, encode_record

REQUEST_TYPE = "org.kubeflow.serving.inference.request"
RESPONSE_TYPE = "org.kubeflow.serving.inference.response"


class Handwritten:
    """The hand-written CloudEvents code before the SDK (predlog/cloudevents.py, the collector's front)."""

    @staticmethod
    def to_event(record: PredictionRecord, *, source: str) -> dict[str, Any]:
        from datetime import UTC, datetime

        return {
            "specversion": "1.0",
            "id": f"{record.request_id}/{record.role}/{uuid.uuid4().hex[:8]}",
            "source": source,
            "type": EVENT_TYPE,
            "subject": record.deployment,
            "time": datetime.fromtimestamp(record.timestamp, UTC).isoformat().replace("+00:00", "Z"),
            "datacontenttype": "application/json",
            "data": json.loads(encode_record(record)),
        }

    @staticmethod
    def build(records: list[PredictionRecord]) -> bytes:
        return json.dumps([Handwritten.to_event(r, source="kubeloop/bench") for r in records]).encode()

    @staticmethod
    def records_from_http(headers: Mapping[str, str], body: bytes) -> list[PredictionRecord]:
        lower = {k.lower(): v for k, v in headers.items()}
        content_type = lower.get("content-type", "").split(";")[0].strip()
        payload = json.loads(body)
        if content_type == BATCH_CONTENT_TYPE:
            return [Handwritten.from_structured(event) for event in payload]
        if content_type == "application/cloudevents+json":
            return [Handwritten.from_structured(payload)]
        Handwritten.check_type(lower["ce-type"])
        return [decode_record(json.dumps(payload))]

    @staticmethod
    def check_type(event_type: str) -> None:
        if event_type != EVENT_TYPE:
            raise ValueError(f"unsupported event type {event_type!r}, expected {EVENT_TYPE!r}")

    @staticmethod
    def from_structured(event: Any) -> PredictionRecord:
        if not isinstance(event, Mapping) or "data" not in event:
            raise ValueError("a structured CloudEvent must be an object with a data field")
        Handwritten.check_type(str(event.get("type")))
        return decode_record(json.dumps(event["data"]))

    @staticmethod
    def parse_batch(headers: Mapping[str, str], body: bytes) -> list[PredictionRecord]:
        """The collector: label_events looked at the JSON first, then records_from_http read it."""
        payload = json.loads(body)
        types = {event.get("type") for event in payload}
        assert "io.kubeloop.label" not in types
        return Handwritten.records_from_http(headers, body)

    @staticmethod
    def read_logger_event(headers: Mapping[str, str], body: bytes) -> tuple[str, str, Any]:
        """The collector's front for a KServe event: label_events' header look, then `_accept`'s."""
        lower = {k.lower(): v for k, v in headers.items()}
        assert lower.get("content-type", "").split(";")[0].strip() != BATCH_CONTENT_TYPE
        assert lower.get("ce-type") != "io.kubeloop.label"
        lower = {k.lower(): v for k, v in headers.items()}
        event_type, request_id = lower.get("ce-type", ""), lower.get("ce-id")
        if event_type not in (REQUEST_TYPE, RESPONSE_TYPE) or not request_id:
            raise ValueError("not a KServe logger event")
        return event_type, request_id, json.loads(body)


@dataclass(frozen=True)
class HandwrittenEvent:
    """What the collector reads of an event, as the hand-written front gave it."""

    attributes: dict[str, str]
    data: Any

    def __getitem__(self, key: str) -> str:
        return self.attributes[key]


def handwritten_front(headers: Mapping[str, str], body: bytes) -> list[HandwrittenEvent]:
    """The hand-written front in the collector's place (`read_events`), for the KServe pairs."""
    event_type, request_id, payload = Handwritten.read_logger_event(headers, body)
    return [HandwrittenEvent({"type": event_type, "id": request_id}, payload)]


def serve(front: str, port: int, logs: str) -> None:
    """A collector writing to a log store under `logs`, its events read by the given front."""
    from aiohttp import web

    from kubeloop.predlog.store import LogStore
    from kubeloop.serving.collector import app

    vars(app)["read_events"] = FRONTS[front]  # the collector's reader, swapped for this run
    store = LogStore(Path(logs))
    web.run_app(app.build_app(app.Collector(write=store.write)), host="127.0.0.1", port=port, print=None)


def collector_cpu_per_pair(front: str, pairs: int) -> float:
    """The collector process's CPU microseconds per KServe pair posted to it."""
    from kubeloop.local.processes import free_port

    port = free_port()
    with tempfile.TemporaryDirectory() as logs:
        command = [sys.executable, __file__, "--serve", front, "--port", str(port), "--logs", logs]
        child = subprocess.Popen(command)
        try:
            url = f"http://127.0.0.1:{port}/events?deployment=iris&model=m&version=3&role=champion"
            with httpx.Client(timeout=10) as client:
                _wait_healthy(client, f"http://127.0.0.1:{port}/healthz")
                post_pairs(client, url, 200)  # warm up
                process = psutil.Process(child.pid)
                before = sum(process.cpu_times()[:2])
                post_pairs(client, url, pairs)
                return (sum(process.cpu_times()[:2]) - before) / pairs * 1e6
        finally:
            child.terminate()
            child.wait(10)


def _wait_healthy(client: httpx.Client, url: str) -> None:
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if client.get(url).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("the collector did not start")


def post_pairs(client: httpx.Client, url: str, pairs: int) -> None:
    """Post request/response pairs with fresh ids, as the logger does for each answered call."""
    for _ in range(pairs):
        request_id = uuid.uuid4().hex
        for headers, body in logger_pair():
            response = client.post(url, content=body, headers={**headers, "Ce-Id": request_id})
            assert response.status_code == 202, response.text


def sdk_parse_batch(headers: Mapping[str, str], body: bytes) -> list[PredictionRecord]:
    """The collector now (the SDK for each member): the events read once, label events looked for, records."""
    events = read_events(headers, body)
    assert label_items(events) is None
    return records_from_events(events)


def sdk_read_logger_event(headers: Mapping[str, str], body: bytes) -> tuple[str, str, Any]:
    """A KServe event read by the SDK alone (`from_http`), then looked at as the collector does."""
    (event,) = sdk_front(headers, body)
    assert label_items([event]) is None
    return event["type"], event["id"], event.data


def shipped_read_logger_event(headers: Mapping[str, str], body: bytes) -> tuple[str, str, Any]:
    """A KServe event read as the collector reads it now (`read_events`: headers into the SDK's event)."""
    (event,) = read_events(headers, body)
    assert label_items([event]) is None
    return event["type"], event["id"], event.data


def sdk_front(headers: Mapping[str, str], body: bytes) -> list[CloudEvent]:
    """`read_events` with binary mode left to the SDK's `from_http`."""
    return [from_http(dict(headers), body, json.loads)]


FRONTS: dict[str, Callable[[Mapping[str, str], bytes], list[Any]]] = {
    "SDK": sdk_front, "hand-written": handwritten_front, "shipped": read_events,
}


def sdk_build(records: list[PredictionRecord]) -> bytes:
    return batch_body([to_event(record, source="kubeloop/bench") for record in records])


def make_records(count: int) -> list[PredictionRecord]:
    """Records as a classifier logs them: four features in, a class out, its class probabilities."""
    return [
        PredictionRecord(
            request_id=uuid.uuid4().hex, timestamp=1.7e9 + i, deployment="iris", model="iris-classifier",
            version="3", role="champion", inputs=[{"sepal_length": 5.1, "sepal_width": 3.5,
                                                   "petal_length": 1.4, "petal_width": 0.2}],
            outputs=["setosa"], latency_ms=1.25,
            extra={"classes": ["setosa", "versicolor", "virginica"], "probabilities": [[0.9, 0.07, 0.03]]},
        )
        for i in range(count)
    ]


def logger_pair() -> list[tuple[dict[str, str], bytes]]:
    """A request and its response as KServe's request logger (cloudevents sdk-go, binary mode) posts them."""
    def headers(kind: str) -> dict[str, str]:
        return {"Ce-Specversion": "1.0", "Ce-Id": "5e1b7a2c-0d1f-4f7e-9a55-3f0c2b9d7e41",
                "Ce-Source": "http://localhost:9081/", "Ce-Type": kind,
                "Ce-Time": "2026-01-05T10:00:00.123456789Z", "Ce-Recordedtime": "2026-01-05T10:00:00.2Z",
                "Ce-Inferenceservicename": "iris", "Ce-Namespace": "default", "Ce-Component": "predictor",
                "Ce-Endpoint": "default", "Ce-Metadata": "{}", "Content-Type": "application/json"}
    return [(headers(REQUEST_TYPE), b'{"instances": [[5.1, 3.5, 1.4, 0.2]]}'),
            (headers(RESPONSE_TYPE), b'{"predictions": [0]}')]


PAIRS_TIMED = 1000  # a pair takes microseconds: time a thousand of them and report one


def timed(runs: list[Callable[[], object]], repeat: int) -> list[float]:
    """Median wall time of one call of each, in milliseconds; the runs alternate, so load hits all alike."""
    samples: list[list[float]] = [[] for _ in runs]
    for _ in range(repeat + 1):
        for run, times in zip(runs, samples, strict=True):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
    return [statistics.median(times[1:]) * 1000 for times in samples]  # the first round warms up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--pairs", type=int, default=3000)
    parser.add_argument("--serve", choices=list(FRONTS), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--logs", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.logs)
        return
    records = make_records(args.records)
    headers = {"content-type": BATCH_CONTENT_TYPE}
    body, old_body = sdk_build(records), Handwritten.build(records)
    assert sdk_parse_batch(headers, body) == Handwritten.parse_batch(headers, old_body) == records
    pair = logger_pair()
    readers = (sdk_read_logger_event, Handwritten.read_logger_event, shipped_read_logger_event)
    assert all([read(*e) for e in pair] == [readers[0](*e) for e in pair] for read in readers)

    def pairs_read(read: Callable[[Mapping[str, str], bytes], object]) -> Callable[[], object]:
        return lambda: [read(*event) for _ in range(PAIRS_TIMED) for event in pair]

    print(f"{'measure':46} {'SDK':>9} {'hand-written':>13} {'ratio':>7} {'shipped':>9}")
    sdk, hand = timed([lambda: sdk_build(records), lambda: Handwritten.build(records)], args.repeat)
    row(f"build a batch of {args.records} records (ms)", [sdk, hand, sdk])
    sdk, hand = timed([lambda: sdk_parse_batch(headers, body),
                       lambda: Handwritten.parse_batch(headers, old_body)], args.repeat)
    row(f"parse a batch of {args.records} records (ms)", [sdk, hand, sdk])
    row("read a KServe binary-mode pair (µs)",
        [ms * 1000 / PAIRS_TIMED for ms in timed([pairs_read(read) for read in readers], args.repeat)])
    row("collector CPU per KServe pair over HTTP (µs)",
        [collector_cpu_per_pair(front, args.pairs) for front in FRONTS])
    print("SDK: the cloudevents SDK for every event (binary mode by its from_http); hand-written: the code")
    print("it replaced; ratio: SDK / hand-written; shipped: kubeloop now (the SDK for batches and")
    print("structured events; binary mode read from the headers into the SDK's event)")


def row(name: str, figures: list[float]) -> None:
    """One line of the table: SDK, hand-written, their ratio, shipped."""
    sdk, hand, shipped = figures
    print(f"{name:46} {sdk:9.2f} {hand:13.2f} {sdk / hand:7.2f} {shipped:9.2f}")

if __name__ == "__main__":
    main()
