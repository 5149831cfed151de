"""Labels as CloudEvents (type `io.kubeloop.label`), the way the collector takes them in Kubernetes mode.

An event's `subject` is the deployment and its `data` a list of label objects (or one object), the
same items the gateway's label endpoint takes. Batch (`application/cloudevents-batch+json`),
structured and binary modes are read by `kubeloop.predlog.cloudevents_http`; events of other types
are not label events and are left to the caller.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cloudevents.http import CloudEvent

from kubeloop.predlog.cloudevents_http import content_mode, json_body, read_events

LABEL_EVENT_TYPE = "io.kubeloop.label"


def label_events(headers: Mapping[str, str], body: bytes) -> list[tuple[str, list[Any]]] | None:
    """(deployment, label items) per label event in the request; None when it carries no label events.

    ValueError names the problem (malformed JSON or event, a batch mixing types, no subject).
    """
    if content_mode(headers) is None:
        return None
    return label_items(read_events(headers, body))


def label_items(events: Sequence[CloudEvent]) -> list[tuple[str, list[Any]]] | None:
    """(deployment, label items) per event when they are label events; None when none of them is."""
    types = {event["type"] for event in events}
    if LABEL_EVENT_TYPE not in types:
        return None
    if types != {LABEL_EVENT_TYPE}:
        raise ValueError(f"a batch with {LABEL_EVENT_TYPE} events must hold only those")
    return [_items(event) for event in events]


def _items(event: CloudEvent) -> tuple[str, list[Any]]:
    subject = event.get("subject")
    if not subject:
        raise ValueError(f"a {LABEL_EVENT_TYPE} event names its deployment in `subject`")
    data = event.data
    if isinstance(data, bytes | str):  # the items sent as a JSON string
        data = json_body(data)
    return str(subject), data if isinstance(data, list) else [data]
