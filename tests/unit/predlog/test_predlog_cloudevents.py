"""CloudEvents: the sink posts a batch a real HTTP server receives, and the parser reads every mode."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kubeloop.predlog import CloudEventsSink, PredictionRecord, records_from_http
from kubeloop.predlog.cloudevents import EVENT_TYPE, to_event

RECORD = PredictionRecord(request_id="r1", timestamp=1700000000.0, deployment="iris", model="m",
                          version="3", role="shadow", inputs=[{"a": 1.0}], outputs=["setosa"])


def test_sink_posts_a_batch_the_parser_reads_back() -> None:
    received: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's naming
            body = self.rfile.read(int(self.headers["content-length"]))
            received.append((dict(self.headers), body))
            self.send_response(202)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        sink = CloudEventsSink(f"http://127.0.0.1:{server.server_port}/events")
        assert sink.write([RECORD, RECORD]) == 2
        sink.close()
    finally:
        server.shutdown()
        server.server_close()
    headers, body = received[0]
    assert records_from_http(headers, body) == [RECORD, RECORD]


def test_structured_and_binary_modes() -> None:
    event = to_event(RECORD, source="test")
    assert event["type"] == EVENT_TYPE and event["time"] == "2023-11-14T22:13:20Z"
    structured = records_from_http(
        {"Content-Type": "application/cloudevents+json"}, json.dumps(event).encode()
    )
    binary = records_from_http({"ce-type": EVENT_TYPE, "content-type": "application/json"},
                               json.dumps(event["data"]).encode())
    assert structured == binary == [RECORD]


@pytest.mark.parametrize(
    ("headers", "body", "message"),
    [
        ({"content-type": "application/json"}, b"{}", "not a CloudEvent"),
        ({"ce-type": "other"}, b"{}", "unsupported event type"),
        ({"ce-type": EVENT_TYPE}, b"{nope", "not valid JSON"),
        ({"content-type": "application/cloudevents-batch+json"}, b"{}", "JSON array"),
        ({"ce-type": EVENT_TYPE}, b'{"x": 1}', "not a prediction record"),
    ],
)
def test_bad_events_name_the_problem(headers: dict[str, str], body: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        records_from_http(headers, body)
