"""CloudEvents: the sink posts a batch a real HTTP server receives, and the parser reads every mode."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cloudevents.conversion import to_binary, to_structured

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
    structured = records_from_http(*to_structured(event))
    binary = records_from_http(*to_binary(event))
    assert structured == binary == [RECORD]


def binary_headers(event_type: str) -> dict[str, str]:
    """Headers of a binary-mode event as KServe's logger sends them (the four required attributes)."""
    return {"ce-specversion": "1.0", "ce-id": "r1", "ce-source": "http://localhost:9081/",
            "ce-type": event_type, "content-type": "application/json"}


@pytest.mark.parametrize(
    ("headers", "body", "message"),
    [
        ({"content-type": "application/json"}, b"{}", "not a CloudEvent"),
        (binary_headers("other"), b"{}", "unsupported event type"),
        (binary_headers(EVENT_TYPE), b"{nope", "not valid JSON"),
        ({"content-type": "application/cloudevents-batch+json"}, b"{}", "JSON array"),
        (binary_headers(EVENT_TYPE), b'{"x": 1}', "not a prediction record"),
    ],
)
def test_bad_events_name_the_problem(headers: dict[str, str], body: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        records_from_http(headers, body)
