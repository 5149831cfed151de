"""Taking a batch in: parse and check it against the deployment's schema, store it, count a refusal.

The one path every entry point uses: the gateway's label endpoint, the collector's label events, the
Python API and `kubeloop labels import`.
"""

from __future__ import annotations

import json
from typing import Any

from kubeloop.labels.parse import parse_batch
from kubeloop.labels.records import LabelError, PutResult
from kubeloop.labels.store import LocalLabelStore


def receive(store: LocalLabelStore, deployment: str, data: Any) -> PutResult:
    """Store a decoded JSON batch for `deployment`; a refused batch raises LabelError and is counted."""
    try:
        labels = parse_batch(data, schema=store.schema(deployment), deployment=deployment)
    except LabelError as error:
        store.count_refused(deployment, error.refused)
        raise
    return store.put(deployment, labels)


def receive_json(store: LocalLabelStore, deployment: str, body: bytes) -> PutResult:
    """`receive` for a request body; a body that is not JSON is refused and counted as one label."""
    try:
        data = json.loads(body or b"null")
    except ValueError:
        store.count_refused(deployment, 1)
        raise LabelError("body is not valid JSON: send a list of {request_id, row, label}") from None
    return receive(store, deployment, data)
