"""Training on what production taught: which labeled window a run trains on, and how it is asked for.

A run's labeled data is the labeled predictions of one deployment made in one window
(`labels_from`, `labels_window`), trained on alone (`train_on="labeled"`) or mixed with the
pipeline's own table (`"both"`); `kubeloop.training.tables` builds the weighted table. This module
stays free of pandas: the pipeline's parameters are checked with it before any task starts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from kubeloop.errors import KubeloopError

# The column that carries sample weights between the training steps (scikit-learn's own name).
WEIGHT_COLUMN = "sample_weight"
TrainOn = Literal["reference", "labeled", "both"]
TRAIN_ON: tuple[TrainOn, ...] = ("reference", "labeled", "both")


class LabeledDataError(KubeloopError):
    """The labeled window cannot be trained on; the message says why."""


@dataclass(frozen=True, kw_only=True)
class LabeledWindow:
    """Labeled predictions of `deployment` made in [since, until): the production data a retrain uses."""

    deployment: str
    since: float
    until: float

    def to_param(self) -> str:
        """The window as the pipeline's `labels_window` parameter (epoch seconds, exact)."""
        return f"{self.since!r}..{self.until!r}"


def _moment(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise LabeledDataError(f"labels_window: {text!r} is neither epoch seconds nor an ISO time") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def parse_window(text: str, *, now: float | None = None) -> tuple[float, float]:
    """(since, until) from `SINCE..UNTIL` (epoch seconds or ISO times) or a duration ending now (`1d`)."""
    from kubeloop.spec import parse_duration

    now = time.time() if now is None else now
    if ".." in text:
        since, until = (_moment(part.strip()) for part in text.split("..", 1))
    else:
        try:
            since, until = now - parse_duration(text), now
        except ValueError:
            raise LabeledDataError(f"labels_window: expected SINCE..UNTIL or a duration such as 1d, "
                                   f"got {text!r}") from None
    if until <= since:
        raise LabeledDataError(f"labels_window: {text!r} ends before it starts")
    return since, until


def check_params(*, train_on: str, labels_from: str, labels_window: str, labeled_share: float) -> None:
    """Refuse labeled-training parameters that cannot work, naming the parameter."""
    if train_on not in TRAIN_ON:
        raise LabeledDataError(f"train_on: expected one of {', '.join(TRAIN_ON)}, got {train_on!r}")
    if not 0 < labeled_share < 1:
        raise LabeledDataError(f"labeled_share: expected a fraction between 0 and 1, got {labeled_share}")
    if train_on == "reference":
        if labels_from:
            raise LabeledDataError("labels_from is set but train_on is reference: use labeled or both")
        return
    if not labels_from:
        raise LabeledDataError(f"train_on {train_on} needs labels_from, the deployment whose labels to use")
    if not labels_window:
        raise LabeledDataError(f"train_on {train_on} needs labels_window (SINCE..UNTIL, or a duration)")
    parse_window(labels_window)
