"""The kubeloop model as a `kserve.Model`: KServe's lifecycle, metadata and protocols over the core engine."""

from __future__ import annotations

from typing import Any

import kserve
import orjson
from kserve.errors import InvalidInput, ModelNotFound
from kserve.protocol.infer_type import InferRequest, InferResponse

from kubeloop.serving.core.asgi import metadata
from kubeloop.serving.core.engine import Engine


class KubeloopModel(kserve.Model):  # type: ignore[misc]  # kserve ships no types, so its Model is Any
    """A registered model version served by KServe; every predict goes through the shared engine."""

    def __init__(self, name: str, *, engine: Engine) -> None:
        super().__init__(name)
        self.engine = engine
        self.ready = True

    def load(self) -> bool:
        """The engine arrives loaded and verified; KServe only needs to know it is ready."""
        self.ready = True
        return self.ready

    def get_input_types(self) -> list[dict[str, Any]]:
        """V2 metadata inputs: one column each, from the signature."""
        return list(metadata(self.engine)["inputs"])

    def get_output_types(self) -> list[dict[str, Any]]:
        """V2 metadata outputs: predictions, and probabilities for classifiers."""
        return list(metadata(self.engine)["outputs"])

    async def predict(self, payload: dict[str, Any] | InferRequest, headers: dict[str, str] | None = None,
                      response_headers: dict[str, str] | None = None) -> dict[str, Any] | InferResponse:
        """Predict through KServe's own data plane (used when the fast path is off)."""
        protocol = "v2" if isinstance(payload, InferRequest) else "v1"
        body = payload.to_rest()[0] if isinstance(payload, InferRequest) else payload
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        answer = await self.engine.answer(raw, headers=headers or {}, model_name=None, protocol=protocol)
        content = orjson.loads(answer.body)
        if answer.status == 404:
            raise ModelNotFound(self.name)
        if answer.status != 200:
            raise InvalidInput(content["error"])
        if response_headers is not None:
            response_headers["x-request-id"] = answer.request_id
        return InferResponse.from_rest(content) if protocol == "v2" else content
