"""The kubeloop gateway: weighted split, shadow mirroring, request ids, retries, metrics and the admin API.

Requests name a deployment (or its registered model) in the usual model-server paths:
`POST /v1/models/<deployment>:predict` and `POST /v2/models/<deployment>/infer`; the gateway
rewrites the name to the backend's model name, tags the request with `x-request-id` and
`x-kubeloop-role`, and forwards it. Shadow copies go through a bounded queue drained by a few
tasks, so the caller never waits for the shadow; a full queue drops the copy and counts it.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import random
import re
import time
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from kubeloop.serving.core.requests import new_request_id
from kubeloop.serving.gateway.http import ClientPool, Request, Response
from kubeloop.serving.gateway.labels import LabelEndpoint
from kubeloop.serving.gateway.routes import (
    CANARY,
    SHADOW,
    STABLE,
    Backend,
    Route,
    RouteError,
    choose,
    dump_routes,
    load_routes,
    parse_route,
    should_mirror,
)
from kubeloop.telemetry import names

log = logging.getLogger(__name__)
_PREDICT = re.compile(r"^/(v1/models/(?P<v1>[^/:]+):predict|v2/models/(?P<v2>[^/]+)/infer)$")
_ADMIN = re.compile(r"^/admin/routes(?:/(?P<deployment>[a-z0-9]([-a-z0-9]*[a-z0-9])?))?$")
_JSON = [("content-type", "application/json")]
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "upgrade",
               "proxy-connection", "te", "trailer", "x-kubeloop-role", "authorization"}
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def _error(status: int, message: str) -> Response:
    return Response(status=status, body=json.dumps({"error": message}).encode(), headers=list(_JSON))


def _request_head(route: Route, backend: Backend, role: str, head: str, *, v1: bool) -> bytes | None:
    """The request line and headers for `backend`, or None when it cannot take this protocol."""
    path = backend.path(model=route.model, v1=v1)
    if path is None:
        return None
    return f"POST {path} HTTP/1.1\r\n{head}x-kubeloop-role: {role}\r\n".encode("latin-1")


def _where(backend: Backend) -> str:
    return f"backend {backend.url} (version {backend.version})"


class GatewayMetrics:
    """The gateway's own Prometheus registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(names.GATEWAY_REQUESTS_TOTAL.removesuffix("_total"), "Requests by backend",
                                ["deployment", "version", "role", "status"], registry=self.registry)
        self.duration = Histogram(names.GATEWAY_REQUEST_DURATION, "Request latency through the gateway",
                                  ["deployment", "version", "role"], buckets=_BUCKETS, registry=self.registry)
        self.mirror_dropped = Counter(names.GATEWAY_MIRROR_DROPPED_TOTAL.removesuffix("_total"),
                                      "Shadow copies dropped (queue full)", ["deployment"],
                                      registry=self.registry)
        self.retries = Counter(names.GATEWAY_RETRIES_TOTAL.removesuffix("_total"),
                               "Requests retried on stable after the canary refused or dropped them",
                               ["deployment"],
                               registry=self.registry)
        self.weight = Gauge(names.GATEWAY_ROUTE_WEIGHT, "Percent of traffic (shadow: mirror percent)",
                            ["deployment", "version", "role"], registry=self.registry)
        self._children: dict[tuple[str, ...], tuple[Any, Any]] = {}

    def declare(self, route: Route) -> None:
        """Create the route's drop and retry counters at 0 once it can drop or retry (panels show 0)."""
        if route.shadow is not None:
            self.mirror_dropped.labels(route.deployment)
        if route.canary is not None:
            self.retries.labels(route.deployment)

    def count(self, deployment: str, version: str, role: str, status: int | str, seconds: float) -> None:
        """One answered request; label children are kept because labels() costs more than the proxying."""
        key = (deployment, version, role, str(status))
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (self.requests.labels(*key), self.duration.labels(*key[:3]))
        children[0].inc()
        if seconds >= 0:
            children[1].observe(seconds)


class Gateway:
    """Routes, forwards and mirrors; `handle` is the whole request path."""

    def __init__(self, *, token: str, routes_file: Path | None = None, timeout: float = 30.0,
                 mirror_queue: int = 1000, mirror_workers: int = 4, mirror_timeout: float = 5.0,
                 max_body: int = 4 << 20, labels_dir: Path | None = None) -> None:
        if not token:
            raise ValueError("the gateway needs an admin token")
        self._token = token.encode()
        self.routes_file = routes_file
        self.timeout = timeout
        self.mirror_timeout = mirror_timeout
        self.max_body = max_body
        self.metrics = GatewayMetrics()
        self.labels = LabelEndpoint(labels_dir, registry=self.metrics.registry) if labels_dir else None
        self.pool = ClientPool()
        self.mirror_pool = ClientPool()
        self.routes: dict[str, Route] = {}
        self._by_model: dict[str, Route] = {}
        self._mirror: asyncio.Queue[tuple[Route, bytes, bytes]] = asyncio.Queue(maxsize=mirror_queue)
        self._mirror_workers = mirror_workers
        self._tasks: list[asyncio.Task[None]] = []
        self.mirror_dropped = 0
        if routes_file is not None and routes_file.exists():
            for route in load_routes(routes_file.read_bytes()).values():
                self._install(route)

    def start(self) -> None:
        """Start the mirror workers (needs the running loop)."""
        self._tasks = [asyncio.ensure_future(self._mirror_worker()) for _ in range(self._mirror_workers)]

    async def close(self) -> None:
        """Stop mirroring (waiting for the workers to end) and close backend connections."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self.pool.close()
        self.mirror_pool.close()

    async def handle(self, request: Request) -> Response:
        """Answer one client request."""
        found = _PREDICT.match(request.path.split("?", 1)[0])
        if found is not None:
            if request.method != "POST":
                return _error(405, "use POST for predictions")
            v1 = bool(found.group("v1"))
            return await self._proxy(request, found.group("v1") or found.group("v2"), v1=v1)
        labeled = LabelEndpoint.match(request.path)
        if labeled is not None:
            if self.labels is None:
                return _error(404, "this gateway takes no labels: send them to the collector")
            return await self.labels.handle(request, self._lookup(labeled), labeled)
        if request.path.startswith("/admin/"):
            return self._admin(request)
        if request.path == "/metrics":
            return Response(status=200, body=generate_latest(self.metrics.registry),
                            headers=[("content-type", "text/plain; version=0.0.4")])
        if request.path in ("/healthz", "/ready"):
            return Response(status=200, body=b'{"ready": true}', headers=list(_JSON))
        return _error(404, f"no route for {request.method} {request.path}")

    def _lookup(self, name: str) -> Route | None:
        return self.routes.get(name) or self._by_model.get(name)

    async def _proxy(self, request: Request, name: str, *, v1: bool) -> Response:
        started = time.perf_counter()
        route = self._lookup(name)
        if route is None:
            return _error(404, f"unknown deployment or model {name!r}")
        request_id = request.headers.get("x-request-id") or new_request_id()
        sticky = request.headers.get(route.sticky_header) if route.sticky_header else None
        backend, role = choose(route, draw=random.random() * 100, sticky_value=sticky)
        forwarded = "".join(f"{k}: {v}\r\n" for k, v in request.headers.items()
                            if k not in _HOP_BY_HOP and k != "x-request-id")
        head = f"host: gateway\r\nx-request-id: {request_id}\r\n{forwarded}"
        response, refused = await self._forward(route, backend, role, head, request.body, v1=v1)
        if refused and role == CANARY:
            self.metrics.retries.labels(route.deployment).inc()
            backend, role = route.stable, STABLE
            response, _ = await self._forward(route, backend, role, head, request.body, v1=v1)
        if route.shadow is not None and should_mirror(route, draw=random.random() * 100):
            self._enqueue_mirror(route, head, request.body, v1=v1)
        self.metrics.count(route.deployment, backend.version, role, response.status,
                           time.perf_counter() - started)
        headers = [(k, v) for k, v in response.headers if k not in _HOP_BY_HOP and k != "x-request-id"]
        headers += [("x-request-id", request_id), ("x-kubeloop-role", role),
                    ("x-kubeloop-version", backend.version)]
        return Response(status=response.status, body=response.body, headers=headers)

    async def _forward(self, route: Route, backend: Backend, role: str, head: str, body: bytes, *,
                       v1: bool) -> tuple[Response, bool]:
        """The backend's response, and whether it gave none at all (safe to retry elsewhere).

        Predictions have no side effects, so a request whose connection was refused, or closed before
        the whole response arrived (a server killed mid-request), may be answered by another backend.
        """
        data = _request_head(route, backend, role, head, v1=v1)
        if data is None:
            refusal = f"{_where(backend)} speaks the {backend.protocol} protocol: send V1 predict requests"
            return _error(400, refusal), False
        try:
            return await self.pool.request(backend.address, data, body, timeout=self.timeout), False
        except ConnectionRefusedError:
            return _error(502, f"{_where(backend)} refused the connection"), True
        except ConnectionResetError:
            return _error(502, f"{_where(backend)} closed the connection before answering"), True
        except TimeoutError:
            return _error(504, f"{_where(backend)} did not answer in time"), False
        except OSError as error:
            return _error(502, f"{_where(backend)} failed: {error}"), False

    def _enqueue_mirror(self, route: Route, head: str, body: bytes, *, v1: bool) -> None:
        assert route.shadow is not None
        data = _request_head(route, route.shadow, SHADOW, head, v1=v1)
        if data is None:  # the shadow cannot take this protocol; a request it never saw is not a drop
            return
        try:
            self._mirror.put_nowait((route, data, body))
        except asyncio.QueueFull:
            self.mirror_dropped += 1
            self.metrics.mirror_dropped.labels(route.deployment).inc()

    async def _mirror_worker(self) -> None:
        while True:
            route, head, body = await self._mirror.get()
            assert route.shadow is not None
            try:
                response = await self.mirror_pool.request(route.shadow.address, head, body,
                                                          timeout=self.mirror_timeout)
                status = str(response.status)
            except (OSError, TimeoutError):
                status = "error"
            self.metrics.count(route.deployment, route.shadow.version, SHADOW, status, -1.0)

    def _admin(self, request: Request) -> Response:
        supplied = request.headers.get("authorization", "").removeprefix("Bearer ").encode()
        if not hmac.compare_digest(supplied, self._token):
            return _error(401, "missing or wrong bearer token")
        found = _ADMIN.match(request.path)
        if found is None:
            return _error(404, f"no admin route {request.path}")
        deployment = found.group("deployment")
        if deployment is None:
            return self._json({name: route.to_json() for name, route in self.routes.items()})
        if request.method == "GET":
            route = self.routes.get(deployment)
            return self._json(route.to_json()) if route else _error(404, f"no routes for {deployment!r}")
        if request.method == "DELETE":
            self._remove(deployment)
            return self._json({"deleted": deployment})
        if request.method != "PUT":
            return _error(405, "use GET, PUT or DELETE")
        try:
            route = parse_route(deployment, json.loads(request.body or b"null"))
        except ValueError as error:  # json errors and RouteError
            return _error(400, f"invalid route for {deployment!r}: {error}")
        self._install(route)
        self._save()
        return self._json(route.to_json())

    def _install(self, route: Route) -> None:
        # One dict assignment: requests already routed keep the Route object they picked.
        self.routes[route.deployment] = route
        self._reindex()
        for role, backend, value in ((STABLE, route.stable, 100 - route.canary_weight),
                                     (CANARY, route.canary, route.canary_weight),
                                     (SHADOW, route.shadow, route.shadow_percent)):
            if backend is not None:
                self.metrics.weight.labels(route.deployment, backend.version, role).set(value)
        self.metrics.declare(route)
        if self.labels is not None:
            self.labels.declare(route)

    def _remove(self, deployment: str) -> None:
        self.routes.pop(deployment, None)
        self._reindex()
        self._save()

    def _reindex(self) -> None:
        by_model: dict[str, Route] = {}
        for route in self.routes.values():
            by_model.setdefault(route.model, route)
        self._by_model = by_model

    def _save(self) -> None:
        if self.routes_file is None:
            return
        temporary = self.routes_file.with_suffix(".tmp")
        temporary.write_text(dump_routes(self.routes))
        temporary.replace(self.routes_file)

    @staticmethod
    def _json(data: object) -> Response:
        return Response(status=200, body=json.dumps(data).encode(), headers=list(_JSON))


__all__ = ["Gateway", "RouteError"]
