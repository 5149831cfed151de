"""KServe request-logger events turned into prediction records: pure functions and a pairing buffer.

KServe's logger posts two binary-mode CloudEvents per call, `...inference.request` and
`...inference.response`, with the same `ce-id`; the body is the V1 (`instances`/`predictions`) or
V2 (`inputs`/`outputs`) payload. Who logged (deployment, model, version, role) and the deployment's
labeling policy come from the query string of the logger URL the operator configured; with a policy,
each answered row gets its inclusion probability, as a model server records it in local mode.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from kubeloop.errors import SpecError
from kubeloop.labels.policy import inclusion_probabilities
from kubeloop.labels.serving import labeling_policy
from kubeloop.predlog.schema import INCLUSION_KEY, PredictionRecord
from kubeloop.spec import LabelingSpec

REQUEST_TYPE = "org.kubeflow.serving.inference.request"
RESPONSE_TYPE = "org.kubeflow.serving.inference.response"
SOURCE_KEYS = ("deployment", "model", "version", "role")


@dataclass(frozen=True, kw_only=True)
class Source:
    """Who logged an event, from the logger URL's query string."""

    deployment: str
    model: str
    version: str
    role: str
    labeling: str = ""  # the deployment's labeling policy as JSON (kubeloop.labels.serving.policy_json)

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Source:
        """Read the four keys and the policy; ValueError names the missing keys or a bad policy."""
        missing = [key for key in SOURCE_KEYS if not query.get(key)]
        if missing:
            raise ValueError(f"the logger URL lacks query parameters: {', '.join(missing)}")
        source = cls(**{key: query[key] for key in SOURCE_KEYS}, labeling=query.get("labeling", ""))
        source.policy()  # a policy that does not parse is refused with the event, naming it
        return source

    def policy(self) -> LabelingSpec | None:
        """The labeling policy, parsed once per distinct text (None: the deployment labels nothing)."""
        try:
            return _policy(self.labeling)
        except SpecError as error:  # the message names the field
            raise ValueError(str(error)) from None


@lru_cache(maxsize=64)
def _policy(text: str) -> LabelingSpec | None:
    return labeling_policy(text)


def answer_extra(payload: Any, predictions: Sequence[Any], *, source: Source) -> dict[str, Any]:
    """What a response adds to its record, as a server logs it: the class probabilities and classes a V1
    answer carries, and each row's inclusion probability under the deployment's labeling policy."""
    extra: dict[str, Any] = {}
    probabilities = payload.get("probabilities") if isinstance(payload, Mapping) else None
    if not (isinstance(probabilities, list) and len(probabilities) == len(predictions)):
        probabilities = None
    if probabilities is not None and isinstance(payload.get("classes"), list):
        extra |= {"classes": payload["classes"], "probabilities": probabilities}
    policy = source.policy()
    if policy is not None:
        extra[INCLUSION_KEY] = inclusion_probabilities(policy, predictions=list(predictions),
                                                       probabilities=probabilities)
    return extra


def input_rows(payload: Any) -> list[dict[str, Any]]:
    """Rows of a V1 (`instances`) or V2 (`inputs`, one tensor per feature or one 2-D tensor) request."""
    if isinstance(payload, Mapping) and isinstance(payload.get("instances"), list):
        return [_row(instance) for instance in payload["instances"]]
    if isinstance(payload, Mapping) and isinstance(payload.get("inputs"), list):
        tensors = payload["inputs"]
        if len(tensors) == 1 and len(tensors[0].get("shape", [])) == 2:
            rows, width = tensors[0]["shape"]
            data = tensors[0]["data"]
            flat = [v for row in data for v in row] if data and isinstance(data[0], list) else data
            return [{str(j): flat[i * width + j] for j in range(width)} for i in range(rows)]
        columns = {t["name"]: t["data"] for t in tensors}
        count = min((len(v) for v in columns.values()), default=0)
        return [{name: values[i] for name, values in columns.items()} for i in range(count)]
    raise ValueError("the request has neither `instances` (V1) nor `inputs` (V2)")


def _row(instance: Any) -> dict[str, Any]:
    if isinstance(instance, Mapping):
        return dict(instance)
    if isinstance(instance, list):
        return {str(i): value for i, value in enumerate(instance)}
    return {"0": instance}


def outputs(payload: Any) -> list[Any]:
    """Predictions of a V1 (`predictions`) or V2 (first tensor of `outputs`) response."""
    if isinstance(payload, Mapping) and isinstance(payload.get("predictions"), list):
        return list(payload["predictions"])
    if isinstance(payload, Mapping) and isinstance(payload.get("outputs"), list) and payload["outputs"]:
        return list(payload["outputs"][0].get("data", []))
    raise ValueError("the response has neither `predictions` (V1) nor `outputs` (V2)")


def mirrored(request_id: str, percent: int) -> bool:
    """Whether a request is in the mirrored share; a hash of its id, so both sides of a retry agree."""
    digest = hashlib.sha256(request_id.encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < percent


class Pairs:
    """Requests waiting for their responses, bounded in number and age (oldest dropped first)."""

    def __init__(self, *, capacity: int = 10_000, ttl: float = 60.0) -> None:
        self.capacity, self.ttl = capacity, ttl
        self._waiting: OrderedDict[str, tuple[float, list[dict[str, Any]]]] = OrderedDict()
        self.dropped = 0

    def request(self, request_id: str, rows: list[dict[str, Any]], *, now: float) -> None:
        """Remember a request's rows until its response arrives."""
        self._expire(now)
        self._waiting[request_id] = (now, rows)
        while len(self._waiting) > self.capacity:
            self._waiting.popitem(last=False)
            self.dropped += 1

    def response(
        self, request_id: str, predictions: list[Any], *, source: Source, now: float, latency: bool = True
    ) -> PredictionRecord | None:
        """The record of a request/response pair, or None when the request is unknown (expired or unseen)."""
        found = self._waiting.pop(request_id, None)
        if found is None:
            return None
        started, rows = found
        return PredictionRecord(
            request_id=request_id,
            timestamp=started,
            deployment=source.deployment,
            model=source.model,
            version=source.version,
            role=source.role,
            inputs=rows,
            outputs=predictions,
            latency_ms=(now - started) * 1000 if latency else 0.0,
        )

    def _expire(self, now: float) -> None:
        while self._waiting:
            oldest = next(iter(self._waiting))
            if now - self._waiting[oldest][0] <= self.ttl:
                return
            del self._waiting[oldest]
            self.dropped += 1

    def __len__(self) -> int:
        return len(self._waiting)
