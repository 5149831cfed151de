"""Labels as CloudEvents (type `io.kubeloop.label`), the way the collector takes them in Kubernetes mode.

An event's `subject` is the deployment and its `data` a list of label objects (or one object), the
same items the gateway's label endpoint takes. Batch (`application/cloudevents-batch+json`),
structured and binary modes are read; anything else is not a label event and is left to the caller.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from cloudevents.exceptions import GenericException
from cloudevents.http import CloudEvent, from_dict, from_http

LABEL_EVENT_TYPE = "io.kubeloop.label"
BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"


def label_events(headers: Mapping[str, str], body: bytes) -> list[tuple[str, list[Any]]] | None:
    """(deployment, label items) per label event in the request; None when it carries no label events.

    ValueError names the problem (malformed JSON, a batch mixing types, no subject).
    """
    lower = {k.lower(): v for k, v in headers.items()}
    content_type = lower.get("content-type", "").split(";")[0].strip()
    if content_type in (BATCH_CONTENT_TYPE, STRUCTURED_CONTENT_TYPE):
        payload = _json(body)
        events = payload if content_type == BATCH_CONTENT_TYPE and isinstance(payload, list) else [payload]
        types = {event.get("type") if isinstance(event, Mapping) else None for event in events}
        if LABEL_EVENT_TYPE not in types:
            return None
        if types != {LABEL_EVENT_TYPE}:
            raise ValueError(f"a batch with {LABEL_EVENT_TYPE} events must hold only those")
        return [_items(_event(from_dict, event)) for event in events]
    if lower.get("ce-type") != LABEL_EVENT_TYPE:
        return None
    return [_items(_event(from_http, dict(headers), body))]


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise ValueError("body is not valid JSON") from None


def _event(parse: Callable[..., CloudEvent], *args: Any) -> CloudEvent:
    try:
        event = parse(*args)
    except GenericException as error:
        raise ValueError(f"not a valid CloudEvent: {error}") from None
    return event


def _items(event: CloudEvent) -> tuple[str, list[Any]]:
    subject = event.get("subject")
    if not subject:
        raise ValueError(f"a {LABEL_EVENT_TYPE} event names its deployment in `subject`")
    data = event.data
    if isinstance(data, bytes | str):
        data = _json(data.encode() if isinstance(data, str) else data)
    return str(subject), data if isinstance(data, list) else [data]
