"""The model-server core both runtimes share: parse, validate, predict in coalesced batches, log, count.

Concurrent requests are coalesced into one estimator call: a request parks its rows and the first
one schedules a flush for the next event-loop turn, so every request parsed in the meantime joins
the batch. Under load that turns N predict calls into one (a scikit-learn predict costs about the
same for 1 row as for 64); alone, a request waits no timer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from kubeloop.labels.policy import inclusion_probabilities
from kubeloop.predlog import PredictionLogger, PredictionRecord
from kubeloop.predlog.schema import INCLUSION_KEY
from kubeloop.serving.core.binary import HEADER as BINARY_HEADER
from kubeloop.serving.core.binary import parse_binary_request
from kubeloop.serving.core.metrics import ServerMetrics
from kubeloop.serving.core.model import LoadedModel, Prediction
from kubeloop.serving.core.requests import RequestError, new_request_id, parse_json
from kubeloop.spec import LabelingSpec

REQUEST_ID_HEADER = "x-request-id"
ROLE_HEADER = "x-kubeloop-role"
DEFAULT_ROLE = "champion"
ROLES = ("champion", "challenger", "shadow")


@dataclass(frozen=True, kw_only=True)
class Answer:
    """An HTTP answer: status, JSON body bytes and the request id it carries."""

    status: int
    body: bytes
    request_id: str


class Engine:
    """One loaded model behind the request path: validation, batching, logging and metrics."""

    def __init__(self, model: LoadedModel, *, deployment: str, logger: PredictionLogger | None = None,
                 metrics: ServerMetrics | None = None, max_rows: int = 10_000,
                 max_bytes: int = 4 << 20, max_batch_rows: int = 256,
                 labeling: LabelingSpec | None = None) -> None:
        self.model = model
        self.labeling = labeling
        self.deployment = deployment
        self.logger = logger
        self.metrics = metrics
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.max_batch_rows = max_batch_rows
        self._pending: list[tuple[list[list[Any]], asyncio.Future[Prediction]]] = []
        self._flush_scheduled = False

    def predict_rows(self, rows: list[list[Any]]) -> Prediction:
        """Validated rows straight to the model (no batching)."""
        return self.model.predict(rows)

    async def predict_batched(self, rows: list[list[Any]]) -> Prediction:
        """Predict rows together with whatever other requests arrive in the same event-loop turn."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Prediction] = loop.create_future()
        self._pending.append((rows, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._flush_scheduled = False
        pending, self._pending = self._pending, []
        chunk: list[tuple[list[list[Any]], asyncio.Future[Prediction]]] = []
        size = 0
        for item in pending:
            if chunk and size + len(item[0]) > self.max_batch_rows:
                self._run_chunk(chunk)
                chunk, size = [], 0
            chunk.append(item)
            size += len(item[0])
        if chunk:
            self._run_chunk(chunk)

    def _run_chunk(self, chunk: list[tuple[list[list[Any]], asyncio.Future[Prediction]]]) -> None:
        try:
            merged = self.model.predict([row for rows, _ in chunk for row in rows])
        except Exception:  # noqa: BLE001 - isolate the failing request: answer each one on its own
            if len(chunk) == 1:
                answer_alone(chunk[0][1], self.model, chunk[0][0])
                return
            for rows, future in chunk:
                answer_alone(future, self.model, rows)
            return
        start = 0
        for rows, future in chunk:
            end = start + len(rows)
            if not future.done():
                future.set_result(merged.rows(start, end))
            start = end

    async def answer(self, body: bytes, *, headers: Mapping[str, str], model_name: str | None,
                     protocol: str) -> Answer:
        """Handle one predict request (protocol "v1" or "v2") end to end; never raises."""
        started = time.perf_counter()
        request_id = headers.get(REQUEST_ID_HEADER) or new_request_id()
        role = headers.get(ROLE_HEADER) or DEFAULT_ROLE
        prediction: Prediction | None = None
        rows: list[list[Any]] = []
        try:
            if role not in ROLES:
                raise RequestError(f"unknown role {role!r} in {ROLE_HEADER}, expected one of {list(ROLES)}")
            if model_name is not None and model_name != self.model.name:
                raise RequestError(f"unknown model {model_name!r}; this server serves {self.model.name!r}",
                                   status=404)
            binary = headers.get(BINARY_HEADER)
            if binary is None:
                payload = parse_json(body, max_bytes=self.max_bytes)
            else:
                payload = parse_binary_request(body, binary, max_bytes=self.max_bytes)
            rows = self.model.parse(payload, max_rows=self.max_rows)
            prediction = await self.predict_batched(rows)
            status, content = 200, self._render(prediction, protocol=protocol, request_id=request_id)
        except RequestError as error:
            status, content = error.status, {"error": str(error)}
        except Exception as error:  # noqa: BLE001 - a model failure is a 500 with a message, not a crash
            status, content = 500, {"error": f"prediction failed: {type(error).__name__}: {error}"}
        elapsed = time.perf_counter() - started
        self._record(request_id=request_id, role=role, status=status, rows=rows, prediction=prediction,
                     seconds=elapsed)
        return Answer(status=status, body=orjson.dumps(content), request_id=request_id)

    def _render(self, prediction: Prediction, *, protocol: str, request_id: str) -> dict[str, Any]:
        if protocol == "v2":
            return self._render_v2(prediction, request_id=request_id)
        content: dict[str, Any] = {"predictions": prediction.predictions}
        if prediction.probabilities is not None:
            content["probabilities"] = prediction.probabilities
            content["classes"] = prediction.classes
        return content

    def _render_v2(self, prediction: Prediction, *, request_id: str) -> dict[str, Any]:
        return {"model_name": self.model.name, "model_version": self.model.version, "id": request_id,
                "outputs": prediction.v2_outputs()}

    def _record(self, *, request_id: str, role: str, status: int, rows: Sequence[list[Any]],
                prediction: Prediction | None, seconds: float) -> None:
        role = role if role in ROLES else DEFAULT_ROLE
        if self.metrics is not None:
            self.metrics.observe(role=role, status=status, seconds=seconds,
                                 predictions=prediction.predictions if prediction else None,
                                 classifier=self.model.classes is not None)
        if self.logger is None or prediction is None:
            return
        names = self.model.input_names
        extra = {}
        if prediction.probabilities is not None:
            extra = {"classes": prediction.classes, "probabilities": prediction.probabilities}
        if self.labeling is not None:
            extra[INCLUSION_KEY] = inclusion_probabilities(
                self.labeling, predictions=prediction.predictions, probabilities=prediction.probabilities)
        self.logger.submit(PredictionRecord(
            request_id=request_id, timestamp=time.time(), deployment=self.deployment,
            model=self.model.name, version=self.model.version, role=role,
            inputs=[dict(zip(names, row, strict=True)) for row in rows],
            outputs=prediction.predictions, status=status, latency_ms=round(seconds * 1000, 3), extra=extra,
        ))


def answer_alone(future: asyncio.Future[Prediction], model: LoadedModel, rows: list[list[Any]]) -> None:
    """Answer one parked request alone, passing its own failure (if any) to its caller."""
    if future.done():
        return
    try:
        future.set_result(model.predict(rows))
    except Exception as error:  # noqa: BLE001 - delivered to the awaiting request
        future.set_exception(error)
