"""The labeling policy's decisions: each answered row's inclusion probability, and whether it is chosen.

A server records every row's probability in its prediction log as it answers (pure: from the policy,
the prediction and the class probabilities). Whether a row is chosen is a fixed function of its
request id and row, `draw(request_id, row) < probability`, so every role that logged the request
(champion and shadow carry the same id) agrees on the same uniform draw, and the rows chosen by any
of them are exactly those with `draw < max(probability over the roles)`: that maximum is the row's
inclusion probability, the one its label is weighted by.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from kubeloop.spec import LabelingSpec

_SCALE = float(1 << 64)


def inclusion_probabilities(
    spec: LabelingSpec, *, predictions: Sequence[Any], probabilities: Sequence[Sequence[float]] | None
) -> list[float] | None:
    """One probability per answered row; None when the policy chooses nothing."""
    if spec.policy == "none":
        return None
    if spec.policy == "uniform" or (spec.policy == "uncertainty" and probabilities is None):
        return [spec.rate] * len(predictions)
    if spec.policy == "stratified":
        return [spec.class_rates.get(str(p), spec.rate) for p in predictions]
    assert probabilities is not None
    return [_uncertainty_rate(spec, row) for row in probabilities]


def _uncertainty_rate(spec: LabelingSpec, probabilities: Sequence[float]) -> float:
    """`rate` when the top probability is 1, `maxRate` when it is 1/K (as uncertain as K classes allow)."""
    classes = len(probabilities)
    if classes < 2:
        return spec.rate
    top = max(probabilities)
    uncertainty = min(1.0, max(0.0, (1.0 - top) / (1.0 - 1.0 / classes)))
    return spec.rate + (spec.max_rate - spec.rate) * uncertainty


def draw(request_id: str, row: int) -> float:
    """A uniform number in [0, 1) fixed by the request id and row (the same in every process)."""
    digest = hashlib.blake2b(f"{request_id}/{row}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def chosen(request_id: str, row: int, probability: float) -> bool:
    """Whether the row is chosen for labeling at that inclusion probability."""
    return draw(request_id, row) < probability
