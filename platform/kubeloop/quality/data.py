"""From a labeled frame (`kubeloop.labels.join`) to the encoded arrays the metrics take."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from kubeloop.analysis.model_checks import is_classification
from kubeloop.labels.join import LABEL, WEIGHT
from kubeloop.labels.schema import class_key
from kubeloop.predlog.schema import PREDICTION
from kubeloop.quality.classification import Classified
from kubeloop.quality.regression import Regressed
from kubeloop.quality.statistic import Array

PROBABILITY_PREFIX = "probability."
Task = Literal["classification", "regression"]


def probability_columns(frame: pd.DataFrame) -> list[str]:
    """The `probability.<class>` columns that hold values in this frame."""
    return [c for c in frame.columns if c.startswith(PROBABILITY_PREFIX) and frame[c].notna().any()]


def task_of(frame: pd.DataFrame) -> Task:
    """Classification when there are class probabilities, text labels, or whole-number answers."""
    if probability_columns(frame):
        return "classification"
    labels = frame[LABEL]
    if labels.map(lambda v: isinstance(v, str | bool)).any():
        return "classification"
    both = pd.concat([frame[PREDICTION], labels], ignore_index=True)
    return "classification" if is_classification(both) else "regression"


def weights_of(frame: pd.DataFrame) -> Array:
    """The rows' weights (1 / inclusion probability)."""
    weights: Array = frame[WEIGHT].to_numpy(dtype=float)
    return weights


def classes_of(frames: Sequence[pd.DataFrame]) -> tuple[str, ...]:
    """Every class named by the labels, the predictions or the probabilities of the frames, sorted."""
    found: set[str] = set()
    for frame in frames:
        found |= {class_key(v) for v in frame[LABEL]} | {class_key(v) for v in frame[PREDICTION]}
        found |= {c.removeprefix(PROBABILITY_PREFIX) for c in probability_columns(frame)}
    return tuple(sorted(found))


def classified(frame: pd.DataFrame, *, classes: tuple[str, ...] | None = None) -> Classified:
    """Encode one model's labeled rows; probabilities only when every row has them."""
    classes = classes or classes_of([frame])
    code = {name: index for index, name in enumerate(classes)}
    truth = np.fromiter((code[class_key(v)] for v in frame[LABEL]), dtype=int, count=len(frame))
    predicted = np.fromiter((code[class_key(v)] for v in frame[PREDICTION]), dtype=int, count=len(frame))
    columns = probability_columns(frame)
    probabilities = None
    if columns and not frame[columns].isna().to_numpy().any():
        probabilities = np.zeros((len(frame), len(classes)))
        for column in columns:
            probabilities[:, code[column.removeprefix(PROBABILITY_PREFIX)]] = frame[column].to_numpy(float)
    return Classified(classes=classes, truth=truth, predicted=predicted, probabilities=probabilities)


def regressed(frame: pd.DataFrame) -> Regressed:
    """Encode one regressor's labeled rows."""
    truth, predicted = frame[LABEL].to_numpy(dtype=float), frame[PREDICTION].to_numpy(dtype=float)
    return Regressed(truth=truth, predicted=predicted)
