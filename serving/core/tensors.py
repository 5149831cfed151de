"""Tensor signatures: requests for models whose MLflow signature holds tensors, not columns.

A tensor request becomes the same thing a column request does, a list of rows, so batching,
logging and failure isolation are shared: row i holds, for each input tensor, its i-th slice along
the first (batch) dimension as nested lists. Datatypes and shapes are checked against the signature
and a mismatch is a RequestError naming the input.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kubeloop.serving.core.requests import RequestError

# numpy dtype name -> Open Inference Protocol datatype.
V2_DATATYPES = {"float64": "FP64", "float32": "FP32", "float16": "FP16", "int64": "INT64", "int32": "INT32",
                "int16": "INT16", "int8": "INT8", "uint64": "UINT64", "uint32": "UINT32", "uint16": "UINT16",
                "uint8": "UINT8", "bool": "BOOL", "str": "BYTES", "object": "BYTES"}
_FLOATS = ("FP64", "FP32", "FP16")


@dataclass(frozen=True, kw_only=True)
class TensorInput:
    """One input tensor of the signature: name (None when the only input is unnamed), dtype, shape."""

    name: str | None
    dtype: str
    shape: tuple[int, ...]

    @property
    def v2_datatype(self) -> str:
        """The Open Inference Protocol datatype of the tensor."""
        return V2_DATATYPES[self.dtype]

    @property
    def label(self) -> str:
        """The name a request uses for it ("input-0" for an unnamed tensor)."""
        return self.name or "input-0"

    def array(self, values: Any) -> np.ndarray:
        """A numpy array of the signature's dtype (strings as objects)."""
        return np.asarray(values, dtype=object if self.v2_datatype == "BYTES" else self.dtype)


def tensor_inputs(specs: Sequence[Mapping[str, Any]]) -> tuple[TensorInput, ...]:
    """Tensor inputs from MLflow's JSON signature entries (`{"type": "tensor", "tensor-spec": ...}`)."""
    inputs = []
    for spec in specs:
        tensor = spec["tensor-spec"]
        dtype = np.dtype(tensor["dtype"]).name if tensor["dtype"] not in ("str", "object") else "str"
        inputs.append(TensorInput(name=spec.get("name"), dtype=dtype, shape=tuple(tensor["shape"])))
    return tuple(inputs)


def parse_tensor_rows(payload: Mapping[str, Any], inputs: Sequence[TensorInput], *,
                      max_rows: int) -> list[list[Any]]:
    """Rows (one slice of every input each) from V2 `inputs` or V1 `instances`; RequestError otherwise."""
    if "inputs" in payload:
        arrays = _v2_tensors(payload["inputs"], inputs)
    elif "instances" in payload:
        arrays = _instances(payload["instances"], inputs)
    else:
        raise RequestError(f"a tensor model takes 'inputs' (V2) or 'instances' (V1), "
                           f"got keys {sorted(payload)}")
    count = len(arrays[0])
    if count == 0:
        raise RequestError("empty batch: send at least one row")
    if count > max_rows:
        raise RequestError(f"batch of {count} rows exceeds the limit of {max_rows}", status=413)
    if any(len(array) != count for array in arrays):
        raise RequestError(f"inputs have different batch sizes {sorted({len(a) for a in arrays})}")
    return [list(row) for row in zip(*(array.tolist() for array in arrays), strict=True)]


def stack(rows: Sequence[Sequence[Any]], inputs: Sequence[TensorInput]) -> list[np.ndarray]:
    """The batch back as one array per input, in signature order."""
    return [spec.array([row[index] for row in rows]) for index, spec in enumerate(inputs)]


def _v2_tensors(tensors: Any, inputs: Sequence[TensorInput]) -> list[np.ndarray]:
    if not isinstance(tensors, list) or not tensors:
        raise RequestError("'inputs' must be a non-empty list of V2 tensors")
    for index, tensor in enumerate(tensors):
        if not isinstance(tensor, dict) or not {"name", "shape", "datatype", "data"} <= tensor.keys():
            raise RequestError(f"inputs[{index}]: a V2 tensor needs 'name', 'shape', 'datatype' and 'data'")
    if len(inputs) == 1 and inputs[0].name is None and len(tensors) == 1:
        return [_v2_array(tensors[0], inputs[0])]
    by_name = {tensor["name"]: tensor for tensor in tensors}
    expected = {spec.label for spec in inputs}
    if by_name.keys() != expected or len(tensors) != len(inputs):
        missing, extra = sorted(expected - by_name.keys()), sorted(by_name.keys() - expected)
        raise RequestError(f"inputs: expected tensors {sorted(expected)}; missing {missing}, unknown {extra}")
    return [_v2_array(by_name[spec.label], spec) for spec in inputs]


def _v2_array(tensor: Mapping[str, Any], spec: TensorInput) -> np.ndarray:
    name, shape, datatype = tensor["name"], tensor["shape"], tensor["datatype"]
    if datatype != spec.v2_datatype and not (datatype in _FLOATS and spec.v2_datatype in _FLOATS):
        raise RequestError(f"input {name!r}: datatype {datatype!r}, the model takes {spec.v2_datatype}")
    if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise RequestError(f"input {name!r}: shape must be a list of non-negative integers")
    _check_shape(name, shape, spec)
    data = tensor["data"]
    flat = np.asarray(data, dtype=object).ravel() if isinstance(data, list) else None
    if flat is None or flat.size != math.prod(shape):
        got = "not a list" if flat is None else f"{flat.size} values"
        raise RequestError(f"input {name!r}: shape {shape} needs {math.prod(shape)} values, got {got}")
    return _typed(name, flat, spec).reshape(shape)


def _instances(instances: Any, inputs: Sequence[TensorInput]) -> list[np.ndarray]:
    if not isinstance(instances, list) or not instances:
        raise RequestError("'instances' must be a non-empty list")
    if len(inputs) == 1:
        values = [item[inputs[0].label] if isinstance(item, dict) and inputs[0].label in item else item
                  for item in instances]
        columns = [values]
    elif all(isinstance(item, dict) and item.keys() == {s.label for s in inputs} for item in instances):
        columns = [[item[spec.label] for item in instances] for spec in inputs]
    else:
        raise RequestError(f"instances: each must be an object with the tensors {[s.label for s in inputs]}")
    arrays = []
    for spec, column in zip(inputs, columns, strict=True):
        try:
            raw = np.asarray(column, dtype=object)
        except ValueError:
            raise RequestError(f"input {spec.label!r}: instances of different shapes") from None
        _check_shape(spec.label, list(raw.shape), spec)
        arrays.append(_typed(spec.label, raw.ravel(), spec).reshape(raw.shape))
    return arrays


def _check_shape(name: str, shape: Sequence[int], spec: TensorInput) -> None:
    fits = len(shape) == len(spec.shape) and all(d == -1 or d == n for d, n in zip(spec.shape, shape,
                                                                                     strict=True))
    if not fits:
        wanted = ", ".join("n" if d == -1 else str(d) for d in spec.shape)
        raise RequestError(f"input {name!r}: shape {list(shape)}, the model takes [{wanted}]")


def _typed(name: str, flat: np.ndarray, spec: TensorInput) -> np.ndarray:
    kind = spec.v2_datatype
    if kind == "BYTES":
        if not all(isinstance(value, str) for value in flat):
            raise RequestError(f"input {name!r}: expected strings (BYTES)")
        return flat
    if kind == "BOOL":
        if not all(isinstance(value, bool) for value in flat):
            raise RequestError(f"input {name!r}: expected booleans (BOOL)")
        return flat.astype(bool)
    if not all(type(value) in (int, float) for value in flat):
        raise RequestError(f"input {name!r}: expected numbers ({kind})")
    numbers = flat.astype(np.float64)
    if not np.isfinite(numbers).all():
        raise RequestError(f"input {name!r}: NaN or infinity is not allowed")
    if kind not in _FLOATS and not (numbers == np.round(numbers)).all():
        raise RequestError(f"input {name!r}: expected integers ({kind})")
    return numbers.astype(spec.dtype)
