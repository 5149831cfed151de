"""Prediction records as CloudEvents: the HTTP sink servers post to, and the parser a collector uses.

A batch goes out as one `application/cloudevents-batch+json` POST (CloudEvents 1.0 JSON batch
format); a collector also accepts a single event in structured mode (`application/cloudevents+json`)
or binary mode (`ce-*` headers, the record as the JSON body), the way KServe's request logger posts.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from kubeloop.predlog.schema import PredictionRecord
from kubeloop.predlog.store import decode_record, encode_record

EVENT_TYPE = "io.kubeloop.prediction"
BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"


def to_event(record: PredictionRecord, *, source: str) -> dict[str, Any]:
    """One record as a structured-mode CloudEvent."""
    return {
        "specversion": "1.0",
        "id": f"{record.request_id}/{record.role}/{uuid.uuid4().hex[:8]}",
        "source": source,
        "type": EVENT_TYPE,
        "subject": record.deployment,
        "time": _rfc3339(record.timestamp),
        "datacontenttype": "application/json",
        "data": json.loads(encode_record(record)),
    }


def _rfc3339(timestamp: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def records_from_http(headers: Mapping[str, str], body: bytes) -> list[PredictionRecord]:
    """Records from a POSTed CloudEvent (batch, structured or binary mode); ValueError names the problem."""
    lower = {k.lower(): v for k, v in headers.items()}
    content_type = lower.get("content-type", "").split(";")[0].strip()
    try:
        payload = json.loads(body)
    except ValueError:
        raise ValueError("body is not valid JSON") from None
    if content_type == BATCH_CONTENT_TYPE:
        if not isinstance(payload, list):
            raise ValueError("a CloudEvents batch must be a JSON array")
        return [_from_structured(event) for event in payload]
    if content_type == STRUCTURED_CONTENT_TYPE:
        return [_from_structured(payload)]
    if "ce-type" in lower:
        _check_type(lower["ce-type"])
        return [_from_data(payload)]
    raise ValueError(f"not a CloudEvent: content-type {content_type!r} and no ce-type header")


def _check_type(event_type: str) -> None:
    if event_type != EVENT_TYPE:
        raise ValueError(f"unsupported event type {event_type!r}, expected {EVENT_TYPE!r}")


def _from_structured(event: Any) -> PredictionRecord:
    if not isinstance(event, Mapping) or "data" not in event:
        raise ValueError("a structured CloudEvent must be an object with a data field")
    _check_type(str(event.get("type")))
    return _from_data(event["data"])


def _from_data(data: Any) -> PredictionRecord:
    return decode_record(json.dumps(data))


class CloudEventsSink:
    """Posts each batch to a collector URL; failures raise so the logger counts them."""

    def __init__(self, url: str, *, source: str = "kubeloop/model-server", timeout: float = 5.0) -> None:
        self.url = url
        self.source = source
        self._client = httpx.Client(timeout=timeout)

    def write(self, records: Sequence[PredictionRecord]) -> int:
        """Send the batch as one CloudEvents JSON batch."""
        events = [to_event(record, source=self.source) for record in records]
        response = self._client.post(
            self.url, content=json.dumps(events), headers={"content-type": BATCH_CONTENT_TYPE}
        )
        response.raise_for_status()
        return len(records)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

