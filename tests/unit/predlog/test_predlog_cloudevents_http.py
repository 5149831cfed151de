"""The CloudEvents HTTP adapter: the JSON batch over the SDK, binary mode as KServe's logger posts it,
and one-line errors naming the problem."""

from __future__ import annotations

import json

import pytest
from cloudevents.conversion import to_binary, to_dict, to_structured
from cloudevents.http import CloudEvent, from_http

from kubeloop.labels.events import LABEL_EVENT_TYPE, label_events
from kubeloop.predlog.cloudevents import records_from_http, to_event
from kubeloop.predlog.cloudevents_http import BATCH_CONTENT_TYPE, batch_body, content_mode, read_events
from kubeloop.predlog.schema import PredictionRecord

BATCH = {"content-type": BATCH_CONTENT_TYPE}


def member(**fields: object) -> dict[str, object]:
    return {"specversion": "1.0", "id": "e1", "source": "test", "type": "io.example", "data": {"a": 1},
            **fields}


def logger_headers(event_type: str = "org.kubeflow.serving.inference.request") -> dict[str, str]:
    """What KServe's request logger (cloudevents sdk-go, binary encoding) sends: the required four,
    the time and its extensions, header names in Go's canonical case."""
    return {"Ce-Specversion": "1.0", "Ce-Id": "5e1b7a2c", "Ce-Source": "http://localhost:9081/",
            "Ce-Type": event_type, "Ce-Time": "2026-01-05T10:00:00.123456789Z",
            "Ce-Recordedtime": "2026-01-05T10:00:00.2Z", "Ce-Inferenceservicename": "iris",
            "Ce-Namespace": "default", "Ce-Component": "predictor", "Ce-Endpoint": "default",
            "Ce-Metadata": '{"X-Request-Id":["5e1b7a2c"]}', "Content-Type": "application/json"}


def test_a_batch_written_by_the_adapter_reads_back_event_by_event() -> None:
    events = [CloudEvent({"id": f"e{i}", "source": "test", "type": "io.example", "subject": "iris"},
                         {"n": i}) for i in range(3)]
    body = batch_body(events)
    assert [json.loads(to_structured(event)[1]) for event in events] == json.loads(body)
    read = read_events(BATCH, body)
    assert [(e["id"], e["subject"], e.data) for e in read] == [(f"e{i}", "iris", {"n": i}) for i in range(3)]
    assert read_events(BATCH, b"[]") == []


def test_a_kserve_logger_event_reads_with_its_id_type_and_json_payload() -> None:
    (event,) = read_events(logger_headers(), b'{"instances": [[5.1, 3.5]]}')
    assert (event["id"], event["type"]) == ("5e1b7a2c", "org.kubeflow.serving.inference.request")
    assert event.data == {"instances": [[5.1, 3.5]]} and event["inferenceservicename"] == "iris"
    built = CloudEvent({"id": "b", "source": "s", "type": "t"}, {"x": [1, 2]})
    (binary,) = read_events(*to_binary(built))
    (structured,) = read_events(*to_structured(built))
    assert binary.data == structured.data == {"x": [1, 2]} and binary["id"] == structured["id"] == "b"


def test_binary_mode_reads_the_same_event_as_the_sdks_from_http() -> None:
    body = b'{"predictions": [0, 1]}'
    (ours,) = read_events(logger_headers(), body)
    theirs = from_http(logger_headers(), body)
    assert to_dict(ours) == to_dict(theirs)


def test_modes_by_content_type_or_ce_headers() -> None:
    assert content_mode({"Content-Type": "application/cloudevents-batch+json; charset=utf-8"}) == "batch"
    assert content_mode({"content-type": "application/cloudevents+json"}) == "structured"
    assert content_mode(logger_headers()) == "binary"
    assert content_mode({"content-type": "application/json"}) is None


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([member(), member(id="e2"), {"source": "x", "type": "t"}],
         "event [2]: not a valid CloudEvent: missing the attributes specversion, id"),
        ([member(), "text"], "event [1]: a structured CloudEvent must be a JSON object"),
        ([member(specversion="2.0")], "event [0]: not a valid CloudEvent: Invalid specversion: 2.0"),
    ],
)
def test_a_bad_batch_member_is_named_by_its_index(members: list[object], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message.replace('[', '.').replace(']', '.')}$"):
        read_events(BATCH, json.dumps(members).encode())


@pytest.mark.parametrize("missing", ["Ce-Specversion", "Ce-Id", "Ce-Source", "Ce-Type"])
def test_binary_mode_without_a_required_header_names_it(missing: str) -> None:
    headers = {key: value for key, value in logger_headers().items() if key != missing}
    with pytest.raises(ValueError, match=f"not a valid CloudEvent: missing the headers {missing.lower()}$"):
        read_events(headers, b"{}")


@pytest.mark.parametrize(
    ("headers", "body", "message"),
    [
        ({**logger_headers(), "Ce-Specversion": "2.0"}, b"{}",
         "not a valid CloudEvent: Invalid specversion: 2.0"),
        (logger_headers(), b"", "body is not valid JSON"),
        (BATCH, b"[{", "body is not valid JSON"),
        ({"content-type": "text/plain"}, b"{}",
         "not a CloudEvent: content-type 'text/plain' and no ce- headers"),
    ],
)
def test_unreadable_requests_name_the_problem(headers: dict[str, str], body: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_events(headers, body)


def test_prediction_and_label_paths_refuse_a_foreign_type_in_a_batch() -> None:
    record = PredictionRecord(request_id="r1", timestamp=1.7e9, deployment="iris", model="m", version="3",
                              role="champion", inputs=[{"a": 1.0}], outputs=["setosa"])
    prediction = json.loads(to_structured(to_event(record, source="test"))[1])
    body = json.dumps([prediction, member(type="io.example.other")]).encode()
    with pytest.raises(ValueError, match=r"^event \[1\]: unsupported event type 'io.example.other'"):
        records_from_http(BATCH, body)
    mixed = json.dumps([member(type=LABEL_EVENT_TYPE, subject="iris", data=[]), prediction]).encode()
    with pytest.raises(ValueError, match=f"a batch with {LABEL_EVENT_TYPE} events must hold only those"):
        label_events(BATCH, mixed)
    with pytest.raises(ValueError, match="unsupported event type 'org.kubeflow.serving.inference.request'"):
        records_from_http(logger_headers(), b"{}")
