"""The HTTP face of the core: V1/V2 predict routes as plain ASGI, shared by both runtimes.

The KServe runtime puts `PredictMiddleware` in front of KServe's FastAPI app, so predict requests
skip FastAPI's routing and pydantic models (most of a request's cost there) while KServe keeps
serving health and metadata. The BentoML runtime mounts the same handlers as Starlette routes
(`protocol_app`). A body declared over the engine's limit is refused 413 before any of it is read,
and one that does not arrive within the body timeout gets 408 (`kubeloop.serving.core.limits`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from kubeloop.serving.core.engine import REQUEST_ID_HEADER, Answer, Engine
from kubeloop.serving.core.limits import HttpLimits
from kubeloop.serving.core.metrics import exposition, is_multiprocess

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_V1 = re.compile(r"^/v1/models/(?P<name>[^/:]+):predict$")
_V2 = re.compile(r"^/v2/models/(?P<name>[^/]+)(?:/versions/[^/]+)?/infer$")
_JSON = [(b"content-type", b"application/json")]
DEFAULT_BODY_TIMEOUT = HttpLimits().body_timeout


def match_predict(path: str) -> tuple[str, str] | None:
    """(protocol, model name) when the path is a V1 predict or V2 infer route."""
    if path.startswith("/v1/"):
        found = _V1.match(path)
        return ("v1", found.group("name")) if found else None
    if path.startswith("/v2/"):
        found = _V2.match(path)
        return ("v2", found.group("name")) if found else None
    return None


async def read_body(receive: Receive, *, limit: int) -> bytes | None:
    """The whole request body, or None as soon as it grows past `limit` bytes."""
    chunks = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def declared_length(scope: Scope) -> int | None:
    """The request's content-length header, when it has a valid one."""
    for key, value in scope["headers"]:
        if key == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def bounded_body(scope: Scope, receive: Receive, *, limit: int, timeout: float) -> bytes | int:
    """The body, or the status that refuses it: 413 at once when its declared length is over `limit`
    (nothing read) or as soon as it grows past it, 408 when it has not arrived within `timeout`."""
    declared = declared_length(scope)
    if declared is not None and declared > limit:
        return 413
    try:
        body = await asyncio.wait_for(read_body(receive, limit=limit), timeout)
    except TimeoutError:
        return 408
    return 413 if body is None else body


async def send_json(send: Send, status: int, body: bytes, *, request_id: str | None = None) -> None:
    """Send a complete JSON response in two messages."""
    headers = [*_JSON, (b"content-length", str(len(body)).encode())]
    if request_id:
        headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def serve_predict(engine: Engine, scope: Scope, receive: Receive, send: Send, *,
                        protocol: str, model_name: str, body_timeout: float = DEFAULT_BODY_TIMEOUT) -> None:
    """Answer one predict request from its ASGI scope."""
    if scope["method"] != "POST":
        await send_json(send, 405, orjson.dumps({"error": "use POST for predictions"}))
        return
    body = await bounded_body(scope, receive, limit=engine.max_bytes, timeout=body_timeout)
    if isinstance(body, int):
        message = (f"request body exceeds the limit of {engine.max_bytes} bytes" if body == 413
                   else f"the request body did not arrive within {body_timeout:g}s")
        await send_json(send, body, orjson.dumps({"error": message}))
        return
    headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
    answer: Answer = await engine.answer(body, headers=headers, model_name=model_name, protocol=protocol)
    await send_json(send, answer.status, answer.body, request_id=answer.request_id)


class PredictMiddleware:
    """Answers predict routes from the engine; passes every other request to the wrapped app.

    With several workers it also answers `/metrics`, summed over the workers: the wrapped app's own
    handler would report only the worker that happened to take the scrape.
    """

    def __init__(self, app: ASGIApp, *, engine: Engine, body_timeout: float = DEFAULT_BODY_TIMEOUT) -> None:
        self.app = app
        self.engine = engine
        self.body_timeout = body_timeout
        self.summed_metrics = is_multiprocess()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route one ASGI event."""
        if scope["type"] == "http":
            found = match_predict(scope["path"])
            if found is not None:
                await serve_predict(self.engine, scope, receive, send, protocol=found[0], model_name=found[1],
                                    body_timeout=self.body_timeout)
                return
            if self.summed_metrics and scope["path"] == "/metrics":
                await send_text(send, exposition())
                return
        await self.app(scope, receive, send)


async def send_text(send: Send, body: bytes) -> None:
    """A 200 in Prometheus' text format."""
    headers = [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8"),
               (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def metadata(engine: Engine) -> dict[str, Any]:
    """Open Inference Protocol model metadata built from the signature."""
    model = engine.model
    outputs = [{"name": "predictions", "datatype": "BYTES", "shape": [-1]}]
    if model.classes is not None:
        outputs.append({"name": "probabilities", "datatype": "FP64", "shape": [-1, len(model.classes)]})
    return {
        "name": model.name, "versions": [model.version], "platform": "kubeloop",
        "inputs": model.v2_inputs(),
        "outputs": outputs,
    }
