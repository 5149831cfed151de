"""ONNX models run by onnxruntime: the `onnx` flavour, and the verified ONNX copy of a scikit-learn model.

The session runs single-threaded: each server worker is one process on its own core, and more
threads per predict only contend with the other workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kubeloop.serving.core.prediction import Prediction
from kubeloop.serving.core.requests import Column
from kubeloop.serving.core.tensors import V2_DATATYPES, TensorInput, stack

_ORT_DTYPES = {"tensor(double)": np.float64, "tensor(float)": np.float32, "tensor(float16)": np.float16,
               "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(int16)": np.int16,
               "tensor(int8)": np.int8, "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_,
               "tensor(string)": object}


def session(model: bytes | str) -> Any:
    """An onnxruntime session on the CPU, one thread, from a file path or the model's bytes."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


@dataclass(frozen=True, kw_only=True)
class OnnxPredictor:
    """Rows -> input tensors -> one session run -> labels and probabilities, or the first output."""

    session: Any
    columns: tuple[Column, ...] = ()
    tensors: tuple[TensorInput, ...] = ()
    classes: tuple[Any, ...] | None = None
    path: str = "onnx"

    def __call__(self, rows: Sequence[Sequence[Any]]) -> Prediction:
        """Predict validated rows in one session run."""
        outputs = self.session.run(None, self.feeds(rows))
        return self.answer(outputs)

    def feeds(self, rows: Sequence[Sequence[Any]]) -> dict[str, np.ndarray]:
        """The session's inputs for a batch of rows."""
        inputs = self.session.get_inputs()
        if self.tensors:
            arrays = stack(rows, self.tensors)
            if len(inputs) == 1 and len(arrays) == 1:
                return {inputs[0].name: _cast(arrays[0], inputs[0].type)}
            by_name = {spec.label: array for spec, array in zip(self.tensors, arrays, strict=True)}
            return {i.name: _cast(by_name[i.name], i.type) for i in inputs}
        table = np.array(rows, dtype=object)
        if len(inputs) == 1 and len(self.columns) > 1:
            return {inputs[0].name: _cast(table, inputs[0].type)}
        column_at = {c.name: index for index, c in enumerate(self.columns)}
        return {i.name: _cast(table[:, [column_at[i.name]]], i.type) for i in inputs}

    def answer(self, outputs: list[Any]) -> Prediction:
        """Labels and probabilities for a classifier's (label, probabilities) outputs, else the first."""
        meta = self.session.get_outputs()
        if len(outputs) == 2 and _is_labels(outputs[0]) and self.classes is not None:
            probabilities = _probabilities(outputs[1], self.classes)
            return Prediction(predictions=outputs[0].tolist(), probabilities=probabilities,
                              classes=list(self.classes))
        first = np.asarray(outputs[0])
        if first.ndim == 2 and first.shape[1] == 1 and not self.tensors:
            first = first[:, 0]  # a regressor's [n, 1] output: one value per row
        # A column model's answer is "predictions" whichever way it is run; a tensor model's keeps its name.
        return Prediction(predictions=first.tolist(), name=meta[0].name if self.tensors else "predictions",
                          datatype=V2_DATATYPES.get(first.dtype.name, "BYTES"))


def onnx_classes(model: Any, outputs: list[Any] | None = None) -> tuple[Any, ...] | None:
    """A classifier's class labels from its graph (ai.onnx.ml attributes, a `classes` initializer or a
    ZipMap's keys), or None when the model is no classifier."""
    from onnx import numpy_helper

    for node in model.graph.node:
        for attribute in node.attribute:
            if attribute.name in ("classlabels_strings", "classlabels_int64s"):
                values = attribute.strings or attribute.ints
                return tuple(v.decode() if isinstance(v, bytes) else int(v) for v in values)
    for initializer in model.graph.initializer:
        if initializer.name == "classes":
            return tuple(numpy_helper.to_array(initializer).tolist())
    return None


def _is_labels(output: Any) -> bool:
    return isinstance(output, np.ndarray) and output.ndim == 1


def _probabilities(output: Any, classes: tuple[Any, ...]) -> list[list[float]]:
    if isinstance(output, list):  # a ZipMap: one {class: probability} per row
        return [[float(row[c]) for c in classes] for row in output]
    return list(np.asarray(output, dtype=np.float64).tolist())


def _cast(values: np.ndarray, ort_type: str) -> np.ndarray:
    dtype = _ORT_DTYPES.get(ort_type, np.float32)
    return np.asarray(values, dtype=dtype)
