"""The kubeloop model as a BentoML service (new `@bentoml.service` API) over the shared core engine.

Configured by KUBELOOP_SERVE_* variables (see kubeloop.serving.core.runtime), served with
`bentoml serve kubeloop.serving.bentoml_runtime.service:KubeloopService`. Besides BentoML's own
`/predict` API it answers the KServe V1 and Open Inference Protocol V2 routes from a mounted ASGI
app, so callers and the gateway see the same URLs whichever runtime serves the model. Workers are
recycled after KUBELOOP_SERVE_MAX_REQUESTS requests or above KUBELOOP_SERVE_MAX_RSS_MB of resident
memory when set (`kubeloop.serving.bentoml_runtime.recycling`).
"""

from __future__ import annotations

import os
from http import HTTPStatus
from typing import Any

import bentoml
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kubeloop.serving.bentoml_runtime.recycling import RecyclePolicy, Recycler
from kubeloop.serving.core.asgi import Receive, Scope, Send, metadata, serve_predict
from kubeloop.serving.core.engine import Engine
from kubeloop.serving.core.limits import SERVER_PREFIX, HttpLimits
from kubeloop.serving.core.runtime import ENV_PREFIX, RuntimeConfig, build_engine, load_model, settle_heap

# One service instance per worker process; the mounted app reaches its engine (and recycler) here.
_ENGINES: list[Engine] = []
_RECYCLERS: list[Recycler] = []
_LIMITS = HttpLimits.from_env(SERVER_PREFIX)


def _engine() -> Engine:
    if not _ENGINES:
        raise RuntimeError("the kubeloop service has not started in this worker")
    return _ENGINES[0]


class _Predict:
    """A raw ASGI endpoint for one protocol, so requests skip Starlette's Request/Response objects."""

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = scope["path_params"]["name"]
        await serve_predict(_engine(), scope, receive, send, protocol=self.protocol, model_name=name,
                            body_timeout=_LIMITS.body_timeout)
        _note_request()


def _note_request() -> None:
    for recycler in _RECYCLERS:
        recycler.note_request()


async def _ready(_request: Request) -> JSONResponse:
    return JSONResponse({"ready": bool(_ENGINES)}, status_code=200 if _ENGINES else 503)


async def _metadata(request: Request) -> JSONResponse:
    engine = _engine()
    if request.path_params["name"] != engine.model.name:
        return JSONResponse({"error": f"unknown model {request.path_params['name']!r}"}, status_code=404)
    return JSONResponse(metadata(engine))


protocol_app = Starlette(routes=[
    Route("/v1/models/{name}:predict", _Predict("v1"), methods=["POST"]),
    Route("/v2/models/{name}/infer", _Predict("v2"), methods=["POST"]),
    Route("/v2/models/{name}/versions/{version}/infer", _Predict("v2"), methods=["POST"]),
    Route("/v2/health/ready", _ready),
    Route("/v2/health/live", _ready),
    Route("/v2/models/{name}", _metadata),
    Route("/v2/models/{name}/ready", _ready),
])


class PredictError(bentoml.exceptions.BentoMLException):
    """A refused request, answered with the engine's status code and message."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.error_code = HTTPStatus(status)


@bentoml.service(
    name="kubeloop-model",
    workers=int(os.environ.get(ENV_PREFIX + "WORKERS", "1")),
    # Beyond max_concurrency BentoML answers 429 at once rather than queueing without bound.
    traffic={"timeout": 30, "max_concurrency": _LIMITS.max_connections},
    # Every request is already counted in /metrics and recorded in the prediction log.
    logging={"access": {"enabled": False}},
)
@bentoml.asgi_app(protocol_app, path="/")
class KubeloopService:
    """Loads the configured registered model (verified) and predicts through the shared engine."""

    def __init__(self) -> None:
        config = RuntimeConfig.from_env()
        policy = RecyclePolicy(max_requests=config.max_requests, max_rss_mb=config.max_rss_mb)
        policy.check(workers=config.workers)
        self.engine = build_engine(config, load_model(config))
        _ENGINES.append(self.engine)
        if policy.enabled:
            _RECYCLERS.append(Recycler(policy, server_key=f"{config.host}-{config.port}"))
        settle_heap()

    # bentoml re-exports its decorators from _bentoml_sdk, which has no py.typed marker.
    @bentoml.api(route="/predict")  # type: ignore[untyped-decorator]
    async def predict(self, ctx: bentoml.Context, instances: list[Any] | None = None,
                      dataframe_records: list[Any] | None = None,
                      inputs: list[Any] | None = None) -> dict[str, Any]:
        """BentoML's own API: the same request bodies as the V1/V2 routes, one field set."""
        fields = {"instances": instances, "dataframe_records": dataframe_records, "inputs": inputs}
        body = orjson.dumps({key: value for key, value in fields.items() if value is not None})
        headers = dict(ctx.request.headers)
        answer = await self.engine.answer(body, headers=headers, model_name=None,
                                          protocol="v2" if inputs is not None else "v1")
        content: dict[str, Any] = orjson.loads(answer.body)
        _note_request()
        if answer.status != 200:
            raise PredictError(content["error"], answer.status)
        return content

    @bentoml.on_shutdown  # type: ignore[untyped-decorator]  # as @bentoml.api
    def flush_logs(self) -> None:
        """Flush queued prediction records before the worker exits (and leave the recycling folder)."""
        for recycler in _RECYCLERS:
            recycler.close()
        if self.engine.logger is not None:
            self.engine.logger.close()

