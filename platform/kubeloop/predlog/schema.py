"""The shape of a prediction-log record, shared by the writers (servers, collector) and the readers.

Stored and read back one row per input row. Readers get a DataFrame with the META_COLUMNS, the
prediction in PREDICTION, and each input feature as a column named INPUT_PREFIX + feature name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

INPUT_PREFIX = "input."
PREDICTION = "prediction"
# The labeling policy's per-row inclusion probabilities, under this key of `extra` (kubeloop.labels.policy),
# read back as the INCLUSION_PROBABILITY column.
INCLUSION_KEY = "inclusion"
INCLUSION_PROBABILITY = "inclusion_probability"
META_COLUMNS = (
    "request_id",
    "row",
    "timestamp",
    "deployment",
    "model",
    "version",
    "role",
    "status",
    "latency_ms",
)
ROLES = ("champion", "challenger", "shadow")


@dataclass(frozen=True, kw_only=True)
class PredictionRecord:
    """One answered request: its rows in, its predictions out, and who answered it."""

    request_id: str
    timestamp: float
    deployment: str
    model: str
    version: str
    role: str
    inputs: Sequence[Mapping[str, Any]]
    outputs: Sequence[Any]
    status: int = 200
    latency_ms: float = 0.0
    extra: Mapping[str, Any] = field(default_factory=dict)
