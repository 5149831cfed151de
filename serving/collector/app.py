"""The collector's HTTP service: POST /events (KServe logger or kubeloop CloudEvents), /healthz, /metrics.

Records go to the prediction-log store (`kubeloop.predlog.LogStore`) shared with the local mode. When
the logger URL names a `mirror` (the KServe router's shadow), the collector replays that share of
requests to the shadow and logs its answers under the same request id, so disagreement pairs up;
replays run in the background, bounded, and never delay the answer to the logger.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import aiohttp
from aiohttp import web
from cloudevents.http import CloudEvent
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from kubeloop.labels.events import LABEL_EVENT_TYPE, label_items
from kubeloop.labels.records import LabelError
from kubeloop.labels.store import LocalLabelStore
from kubeloop.predlog.cloudevents import EVENT_TYPE, records_from_events
from kubeloop.predlog.cloudevents_http import read_events
from kubeloop.predlog.schema import PredictionRecord
from kubeloop.serving.collector.events import (
    REQUEST_TYPE,
    RESPONSE_TYPE,
    Pairs,
    Source,
    answer_extra,
    input_rows,
    mirrored,
    outputs,
)
from kubeloop.serving.collector.labels import LabelIntake

MAX_BODY = 8 << 20
Writer = Callable[[Sequence[PredictionRecord]], int]


class Collector:
    """State of one collector process: the pairing buffer, the writer, mirror replays and metrics."""

    def __init__(
        self,
        *,
        write: Writer,
        max_mirrors: int = 64,
        mirror_timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
        labels: LocalLabelStore | None = None,
    ) -> None:
        self.write, self.clock = write, clock
        self.pairs = Pairs()
        self.mirror_slots = asyncio.Semaphore(max_mirrors)
        self.mirror_timeout = mirror_timeout
        self.tasks: set[asyncio.Task[None]] = set()
        self.session: aiohttp.ClientSession | None = None
        self.registry = CollectorRegistry()
        self.events = Counter(
            "kubeloop_collector_events", "Events read, by CloudEvents type", ["type"], registry=self.registry
        )
        self.records = Counter("kubeloop_collector_records", "Records written", registry=self.registry)
        self.mirrors = Counter(
            "kubeloop_collector_mirrors", "Mirrored requests", ["result"], registry=self.registry
        )
        self.unpaired = Counter(
            "kubeloop_collector_unpaired",
            "Events whose pair never came (requests expired or evicted, responses without their request): "
            "records lost",
            ["side"],
            registry=self.registry,
        )
        for side in ("request", "response"):
            self.unpaired.labels(side)
        self.waiting = Gauge(
            "kubeloop_collector_waiting_requests",
            "Requests waiting for their response",
            registry=self.registry,
        )
        self.labels = LabelIntake(labels, registry=self.registry) if labels is not None else None

    async def handle(self, request: web.Request) -> web.Response:
        """Accept one request's events; 202 when taken, 400 with a JSON message when they cannot be read."""
        body = await request.read()
        try:
            events = read_events(request.headers, body)
            labeled = label_items(events)
            if labeled is not None:
                self.events.labels(LABEL_EVENT_TYPE).inc(len(labeled))
                return self._labels(labeled)
            written = self._accept(events, dict(request.query))
        except ValueError as error:
            return web.json_response({"error": str(error)}, status=400)
        return web.json_response({"written": written}, status=202)

    def _labels(self, events: list[tuple[str, list[Any]]]) -> web.Response:
        if self.labels is None:
            return web.json_response({"error": "this collector stores no labels"}, status=404)
        try:
            result = self.labels.accept(events)
        except LabelError as error:
            return web.json_response({"error": str(error), "refused": error.refused}, status=error.status)
        return web.json_response(result.to_dict(), status=202)

    def _accept(self, events: list[CloudEvent], query: dict[str, str]) -> int:
        event_type = events[0]["type"] if len(events) == 1 else None
        if event_type not in (REQUEST_TYPE, RESPONSE_TYPE):
            records = records_from_events(events)
            self.events.labels(EVENT_TYPE).inc(len(records))
            return self._store(records)
        self.events.labels(event_type).inc()
        request_id, payload = str(events[0]["id"]), events[0].data
        source = Source.from_query(query)
        key = f"{source.version}/{source.role}/{request_id}"
        now = self.clock()
        if event_type == REQUEST_TYPE:
            dropped = self.pairs.dropped
            self.pairs.request(key, input_rows(payload), now=now)
            self.unpaired.labels("request").inc(self.pairs.dropped - dropped)
            self._maybe_mirror(request_id, payload, query)
            self.waiting.set(len(self.pairs))
            return 0
        record = self.pairs.response(key, outputs(payload), source=source, now=now)
        self.waiting.set(len(self.pairs))
        if record is None:
            self.unpaired.labels("response").inc()
            return 0
        extra = answer_extra(payload, record.outputs, source=source)
        return self._store([replace(record, request_id=request_id, extra=extra)])

    def _store(self, records: Sequence[PredictionRecord]) -> int:
        written = self.write(records)
        self.records.inc(written)
        return written

    def _maybe_mirror(self, request_id: str, payload: Any, query: dict[str, str]) -> None:
        target, percent = query.get("mirror"), int(query.get("mirrorPercent", "0") or 0)
        if not target or not mirrored(request_id, percent):
            return
        if self.mirror_slots.locked():
            self.mirrors.labels("dropped").inc()  # never queue without bound behind a slow shadow
            return
        shadow = Source(
            deployment=query["deployment"],
            model=query["model"],
            version=query.get("shadowVersion") or "unknown",
            role="shadow",
            labeling=query.get("labeling", ""),
        )
        task = asyncio.get_running_loop().create_task(self._mirror(target, request_id, payload, shadow))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _mirror(self, url: str, request_id: str, payload: Any, shadow: Source) -> None:
        async with self.mirror_slots:
            started = self.clock()
            try:
                assert self.session is not None
                async with self.session.post(
                    url,
                    json=payload,
                    headers={"x-request-id": request_id},
                    timeout=aiohttp.ClientTimeout(total=self.mirror_timeout),
                ) as answer:
                    status, body = answer.status, await answer.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, ValueError):
                self.mirrors.labels("error").inc()
                return
            self.mirrors.labels("ok" if status < 400 else "failed").inc()
            try:
                predictions = outputs(body) if status < 400 else []
            except ValueError:
                predictions = []
            extra = answer_extra(body, predictions, source=shadow) if predictions else {}
            self._store(
                [
                    PredictionRecord(
                        request_id=request_id,
                        timestamp=started,
                        deployment=shadow.deployment,
                        model=shadow.model,
                        version=shadow.version,
                        role="shadow",
                        inputs=input_rows(payload),
                        outputs=predictions,
                        status=status,
                        latency_ms=(self.clock() - started) * 1000,
                        extra=extra,
                    )
                ]
            )


def build_app(collector: Collector) -> web.Application:
    """The aiohttp application serving one collector."""
    app = web.Application(client_max_size=MAX_BODY)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(collector.registry), content_type="text/plain")

    async def on_startup(_: web.Application) -> None:
        collector.session = aiohttp.ClientSession()

    async def on_cleanup(_: web.Application) -> None:
        if collector.tasks:
            await asyncio.wait(collector.tasks, timeout=collector.mirror_timeout)
        if collector.session is not None:
            await collector.session.close()

    app.router.add_post("/events", collector.handle)
    app.router.add_post("/", collector.handle)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app
