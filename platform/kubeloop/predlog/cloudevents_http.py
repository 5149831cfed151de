"""CloudEvents over HTTP for prediction logs and labels: single events through the `cloudevents` SDK,
and the JSON batch format (`application/cloudevents-batch+json`) the SDK lacks, as an array of
structured events each read and written by the SDK. One part is our own: binary mode is read from
the headers into the SDK's event, for speed on the collector's busiest path (see `_binary`).

A request carries a batch or one structured event (by its content type), or one binary-mode event
(`ce-*` headers, the data as the JSON body, the way KServe's request logger posts). Every problem is
a ValueError of one line naming it; the collector answers it with a 400.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from cloudevents.conversion import to_structured
from cloudevents.exceptions import GenericException
from cloudevents.http import CloudEvent, from_dict

BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"
# The spec's required attributes, checked before the SDK makes an event: its constructor would make
# up a missing `id` or `specversion` instead of refusing the event.
REQUIRED = ("specversion", "id", "source", "type")
Mode = Literal["batch", "structured", "binary"]


def content_mode(headers: Mapping[str, str]) -> Mode | None:
    """How a request carries CloudEvents, by its content type or `ce-` headers; None: it carries none."""
    return _mode(_lower(headers))


def read_events(headers: Mapping[str, str], body: bytes) -> list[CloudEvent]:
    """The events a request carries, in any of the three modes; ValueError names the problem."""
    lower = _lower(headers)
    mode = _mode(lower)
    if mode is None:
        content_type = _content_type(lower)
        raise ValueError(f"not a CloudEvent: content-type {content_type!r} and no ce- headers")
    if mode == "binary":
        return [_binary(lower, body)]
    payload = json_body(body)
    if mode == "structured":
        return [_structured(payload, where="")]
    if not isinstance(payload, list):
        raise ValueError("a CloudEvents batch must be a JSON array")
    return [_structured(member, where=f"event [{index}]: ") for index, member in enumerate(payload)]


def batch_body(events: Sequence[CloudEvent]) -> bytes:
    """Events as one JSON batch: each one written by the SDK in structured mode, in one array."""
    return b"[" + b",".join(to_structured(event)[1] for event in events) + b"]"


def json_body(body: bytes | str) -> Any:
    """A request body's JSON; ValueError when it is not JSON."""
    try:
        return json.loads(body)
    except ValueError:
        raise ValueError("body is not valid JSON") from None


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}


def _content_type(lower: Mapping[str, str]) -> str:
    return lower.get("content-type", "").split(";")[0].strip()


def _mode(lower: Mapping[str, str]) -> Mode | None:
    content_type = _content_type(lower)
    if content_type == BATCH_CONTENT_TYPE:
        return "batch"
    if content_type == STRUCTURED_CONTENT_TYPE:
        return "structured"
    return "binary" if any(key.startswith("ce-") for key in lower) else None


def _structured(member: Any, *, where: str) -> CloudEvent:
    if not isinstance(member, Mapping):
        raise ValueError(f"{where}a structured CloudEvent must be a JSON object")
    _require([name for name in REQUIRED if name not in member], what="attributes", where=where)
    return _sdk(from_dict, member, where=where)


def _binary(lower: Mapping[str, str], body: bytes) -> CloudEvent:
    """A binary-mode event: its attributes from the `ce-` headers, its data the JSON body.

    Read here, not by the SDK's `from_http`, which goes attribute by attribute through its marshaller:
    with the dozen headers KServe's logger sends it took 3.5x as long as this (245 vs 71 us a
    request/response pair) and made the collector spend 1.28x the CPU per logged call (860 vs 673 us a
    pair over HTTP; `bench/bench_events.py`, loaded machine). The event is still the SDK's CloudEvent,
    checked by its constructor.
    """
    _require([f"ce-{name}" for name in REQUIRED if f"ce-{name}" not in lower], what="headers", where="")
    attributes = {key[3:]: value for key, value in lower.items() if key.startswith("ce-")}
    if "content-type" in lower:
        attributes["datacontenttype"] = lower["content-type"]
    return _sdk(CloudEvent, attributes, json_body(body), where="")


def _require(missing: list[str], *, what: str, where: str) -> None:
    if missing:
        raise ValueError(f"{where}not a valid CloudEvent: missing the {what} {', '.join(missing)}")


def _sdk(parse: Callable[..., CloudEvent], *args: Any, where: str) -> CloudEvent:
    try:
        return parse(*args)
    except GenericException as error:  # the SDK's message names the attribute
        raise ValueError(f"{where}not a valid CloudEvent: {error}") from None
