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


def class_keys(values: pd.Series) -> pd.Series:
    """`class_key` of every value, vectorised for the usual column types (text, integers, whole floats)."""
    kind = pd.api.types.infer_dtype(values, skipna=False)
    if kind in ("string", "integer", "boolean"):
        return values.astype(str)
    numbers = pd.to_numeric(values, errors="coerce") if kind in ("floating", "mixed-integer-float") else None
    if numbers is not None and numbers.notna().all() and (numbers % 1 == 0).all():
        return numbers.astype("int64").astype(str)
    return values.map(class_key)


def classes_of(frames: Sequence[pd.DataFrame]) -> tuple[str, ...]:
    """Every class named by the labels, the predictions or the probabilities of the frames, sorted."""
    found: set[str] = set()
    for frame in frames:
        found |= set(class_keys(frame[LABEL]).unique()) | set(class_keys(frame[PREDICTION]).unique())
        found |= {c.removeprefix(PROBABILITY_PREFIX) for c in probability_columns(frame)}
    return tuple(sorted(found))


def classified(frame: pd.DataFrame, *, classes: tuple[str, ...] | None = None) -> Classified:
    """Encode one model's labeled rows; probabilities only when every row has them."""
    classes = classes or classes_of([frame])
    code = {name: index for index, name in enumerate(classes)}
    truth = pd.Categorical(class_keys(frame[LABEL]), categories=classes).codes.astype(int)
    predicted = pd.Categorical(class_keys(frame[PREDICTION]), categories=classes).codes.astype(int)
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
