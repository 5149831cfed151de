"""The gateway's label endpoint: `POST /v1/models/<deployment>/labels` with a JSON list of labels.

Each label is `{"request_id": <the x-request-id of the answer>, "row": 0, "label": ...}`, optionally
with `"sampling_probability"`. The batch is checked against the deployment's label schema and stored
beside the prediction logs (`kubeloop.labels`), off the event loop so predictions never wait for the
database. The answer counts what was new, a duplicate, or a change; a refused batch is a 4xx naming
the first bad labels, and every label is counted by outcome in `kubeloop_labels_received_total`.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from kubeloop.labels.intake import receive_json
from kubeloop.labels.metrics import UNKNOWN_DEPLOYMENT, LabelCounts
from kubeloop.labels.records import LabelError
from kubeloop.labels.store import LocalLabelStore
from kubeloop.serving.gateway.http import Request, Response
from kubeloop.serving.gateway.routes import Route

_PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)/labels$")
_JSON = [("content-type", "application/json")]
# Label batches write to SQLite in threads; a few at a time keep a flood of them from tying up the pool.
CONCURRENT_WRITES = 4


def _answer(status: int, data: object) -> Response:
    return Response(status=status, body=json.dumps(data).encode(), headers=list(_JSON))


class LabelEndpoint:
    """Takes label batches for the gateway's deployments into the local label store."""

    def __init__(self, root: Path, *, registry: CollectorRegistry) -> None:
        self.store = LocalLabelStore(root)
        self.counts = LabelCounts(registry)
        self._writes = asyncio.Semaphore(CONCURRENT_WRITES)

    @staticmethod
    def match(path: str) -> str | None:
        """The deployment or model named by a label path, else None."""
        found = _PATH.match(path.split("?", 1)[0])
        return found.group("name") if found else None

    def declare(self, route: Route) -> None:
        """Create the route's counters at 0, so a dashboard shows 0 before the first label."""
        self.counts.declare(route.deployment)

    async def handle(self, request: Request, route: Route | None, name: str) -> Response:
        """Answer one label request for `name` (its route, or None when no deployment has that name)."""
        if request.method != "POST":
            return _answer(405, {"error": "use POST to send labels"})
        if route is None:
            self.counts.refused(UNKNOWN_DEPLOYMENT, 1)
            return _answer(404, {"error": f"unknown deployment or model {name!r}"})
        async with self._writes:
            try:
                result = await asyncio.get_running_loop().run_in_executor(
                    None, receive_json, self.store, route.deployment, request.body)
            except LabelError as error:
                self.counts.refused(route.deployment, error.refused)
                return _answer(error.status, {"error": str(error), "refused": error.refused})
        self.counts.stored(route.deployment, result)
        return _answer(200, result.to_dict())
