"""What a model answers for a batch of rows, and its Open Inference Protocol (V2) output tensors."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np


@dataclass(frozen=True, kw_only=True)
class Prediction:
    """Answers for a batch of rows: one prediction each, and class probabilities for classifiers.

    `name` and `datatype` describe the predictions as a V2 tensor when the model says what they are
    (an ONNX output, a tensor signature); otherwise the datatype is read off the values.
    """

    predictions: list[Any]
    probabilities: list[list[float]] | None = None
    classes: list[Any] | None = None
    name: str = "predictions"
    datatype: str | None = None

    def rows(self, start: int, end: int) -> Prediction:
        """The answers of rows [start, end) of the batch."""
        probabilities = None if self.probabilities is None else self.probabilities[start:end]
        return replace(self, predictions=self.predictions[start:end], probabilities=probabilities)

    def v2_outputs(self) -> list[dict[str, Any]]:
        """The V2 output tensors: the predictions (shape [n, ...]) and, for classifiers, probabilities."""
        count = len(self.predictions)
        try:
            shape = list(np.shape(self.predictions)) if count else [0]
        except ValueError:  # ragged rows
            shape = [count]
        flat = _flatten(self.predictions) if len(shape) > 1 else self.predictions
        if len(shape) > 1 and len(flat) != int(np.prod(shape)):  # ragged rows: one value per row
            shape, flat = [count], self.predictions
        outputs = [{"name": self.name, "shape": shape, "datatype": self.datatype or value_datatype(flat),
                    "data": flat}]
        if self.probabilities is not None:
            width = len(self.classes or ()) or (len(self.probabilities[0]) if self.probabilities else 0)
            outputs.append({"name": "probabilities", "shape": [count, width], "datatype": "FP64",
                            "data": [p for row in self.probabilities for p in row]})
        return outputs


def value_datatype(values: list[Any]) -> str:
    """The V2 datatype of plain Python values (by the first one)."""
    first = values[0] if values else 0.0
    if isinstance(first, bool):
        return "BOOL"
    if isinstance(first, int):
        return "INT64"
    return "FP64" if isinstance(first, float) else "BYTES"


def _flatten(values: Any) -> list[Any]:
    if isinstance(values, list):
        return [leaf for value in values for leaf in _flatten(value)]
    return [values]
