"""Prediction records as CloudEvents: the HTTP sink servers post to, and the parser a collector uses.

A batch goes out as one `application/cloudevents-batch+json` POST (CloudEvents 1.0 JSON batch
format); a collector also accepts a single event in structured mode (`application/cloudevents+json`)
or binary mode (`ce-*` headers, the record as the JSON body). Events are built and read by the
`cloudevents` SDK (`kubeloop.predlog.cloudevents_http`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import httpx
import orjson
from cloudevents.http import CloudEvent

from kubeloop.predlog.cloudevents_http import BATCH_CONTENT_TYPE, batch_body, read_events
from kubeloop.predlog.schema import PredictionRecord
from kubeloop.predlog.store import encode_record, record_from_dict

EVENT_TYPE = "io.kubeloop.prediction"


def to_event(record: PredictionRecord, *, source: str) -> CloudEvent:
    """One record as a CloudEvent, its data the record as the log stores it."""
    attributes = {
        "id": f"{record.request_id}/{record.role}/{uuid.uuid4().hex[:8]}",
        "source": source,
        "type": EVENT_TYPE,
        "subject": record.deployment,
        "time": datetime.fromtimestamp(record.timestamp, UTC).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
    }
    return CloudEvent(attributes, orjson.loads(encode_record(record)))  # NaN as null, numpy as lists


def records_from_http(headers: Mapping[str, str], body: bytes) -> list[PredictionRecord]:
    """Records from a POSTed CloudEvent (batch, structured or binary mode); ValueError names the problem."""
    return records_from_events(read_events(headers, body))


def records_from_events(events: Sequence[CloudEvent]) -> list[PredictionRecord]:
    """The record each `io.kubeloop.prediction` event carries; ValueError names a foreign type or data."""
    return [_record(event, where=f"event [{index}]: " if len(events) > 1 else "")
            for index, event in enumerate(events)]


def _record(event: CloudEvent, *, where: str) -> PredictionRecord:
    if event["type"] != EVENT_TYPE:
        raise ValueError(f"{where}unsupported event type {event['type']!r}, expected {EVENT_TYPE!r}")
    try:
        return record_from_dict(event.data)
    except ValueError as error:
        raise ValueError(f"{where}{error}") from None


class CloudEventsSink:
    """Posts each batch to a collector URL; failures raise so the logger counts them."""

    def __init__(self, url: str, *, source: str = "kubeloop/model-server", timeout: float = 5.0) -> None:
        self.url = url
        self.source = source
        self._client = httpx.Client(timeout=timeout)

    def write(self, records: Sequence[PredictionRecord]) -> int:
        """Send the batch as one CloudEvents JSON batch."""
        body = batch_body([to_event(record, source=self.source) for record in records])
        response = self._client.post(self.url, content=body, headers={"content-type": BATCH_CONTENT_TYPE})
        response.raise_for_status()
        return len(records)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()
