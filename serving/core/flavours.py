"""Which MLflow models the servers can serve: a pure decision on the MLmodel's flavours and signature.

Registration calls `servability` to refuse a model no server could load; the servers call it again
at load time, so a model that slipped through is refused with the same reason before any of its
code is unpickled.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# The flavours loaded natively, in order of preference when a model has several.
NATIVE_FLAVOURS = ("sklearn", "xgboost", "lightgbm", "onnx")
# python_function loaders of MLflow's own PythonModel (pickled, or logged from code): no other framework.
PYTHON_MODEL_LOADERS = ("mlflow.pyfunc.model", "mlflow.pyfunc.loaders.code_model")
PYFUNC = "python_function"
COLUMN_TYPES = ("double", "float", "long", "integer", "boolean", "string")
TENSOR_DTYPES = ("float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint64", "uint32",
                 "uint16", "uint8", "bool", "str", "object")
SIGNATURE_HINT = ("log it with a signature, e.g. mlflow.<flavour>.log_model(model, name='model', "
                  "signature=mlflow.models.infer_signature(X, model.predict(X)))")


@dataclass(frozen=True, kw_only=True)
class Servability:
    """Whether the servers can serve a model: the flavour they would load it with, or why not."""

    servable: bool
    reason: str
    flavour: str | None = None
    # "columns" or "tensors" when servable.
    inputs: str | None = None


def servability(flavors: Mapping[str, Any], inputs: Sequence[Mapping[str, Any]] | str | None) -> Servability:
    """Decide from the MLmodel's `flavors` and its signature inputs (MLflow's JSON list, or its string)."""
    flavour = serving_flavour(flavors)
    if flavour is None:
        return Servability(servable=False, reason=_unsupported(flavors))
    if inputs is None:
        return Servability(servable=False, reason=f"the model has no input signature; {SIGNATURE_HINT}")
    specs = json.loads(inputs) if isinstance(inputs, str) else list(inputs)
    problem, kind = signature_problem(specs)
    if problem:
        return Servability(servable=False, reason=problem, flavour=flavour)
    return Servability(servable=True, reason=f"served as {flavour} with {kind} inputs", flavour=flavour,
                       inputs=kind)


def unservable_reason(*, flavors: Mapping[str, Any], signature: Mapping[str, Any] | None) -> str | None:
    """Why the servers cannot serve a model (flavour or signature), or None: registration's refusal.

    `signature` is the MLmodel's signature as a dict (`ModelSignature.to_dict()`).
    """
    found = servability(flavors, (signature or {}).get("inputs"))
    return None if found.servable else found.reason


def model_servability(meta: Any) -> Servability:
    """`servability` of an `mlflow.models.Model` (what `mlflow.models.Model.load(path_or_uri)` returns)."""
    signature = getattr(meta, "signature", None)
    inputs = signature.inputs.to_dict() if signature is not None and signature.inputs is not None else None
    return servability(meta.flavors, inputs)


def serving_flavour(flavors: Mapping[str, Any]) -> str | None:
    """The flavour the servers load the model with, or None when they cannot load it."""
    for name in NATIVE_FLAVOURS:
        if name in flavors:
            return name
    pyfunc = flavors.get(PYFUNC)
    if isinstance(pyfunc, Mapping) and pyfunc.get("loader_module") in PYTHON_MODEL_LOADERS:
        return PYFUNC
    return None


def signature_problem(specs: Sequence[Mapping[str, Any]]) -> tuple[str | None, str]:
    """(what is wrong with the signature inputs or None, "columns" or "tensors")."""
    if not specs:
        return f"the model's input signature is empty; {SIGNATURE_HINT}", ""
    tensors = [spec for spec in specs if spec.get("type") == "tensor"]
    if tensors and len(tensors) != len(specs):
        return "the input signature mixes tensors and columns", ""
    if tensors:
        return _tensor_problem(tensors), "tensors"
    for spec in specs:
        if not spec.get("name"):
            return "a column of the input signature has no name", "columns"
        if spec.get("type") not in COLUMN_TYPES:
            return (f"column {spec['name']!r} has type {spec.get('type')!r}; the servers take "
                    f"{', '.join(COLUMN_TYPES)}"), "columns"
    return None, "columns"


def _tensor_problem(specs: Sequence[Mapping[str, Any]]) -> str | None:
    if len(specs) > 1 and not all(spec.get("name") for spec in specs):
        return "a model with several input tensors must name each of them"
    for spec in specs:
        tensor = spec.get("tensor-spec") or {}
        label = spec.get("name") or "input-0"
        if str(tensor.get("dtype")) not in TENSOR_DTYPES:
            return (f"tensor {label!r} has dtype {tensor.get('dtype')!r}; the servers take "
                    f"{', '.join(TENSOR_DTYPES)}")
        shape = list(tensor.get("shape") or [])
        if not shape or shape[0] != -1:
            return (f"tensor {label!r} has shape {shape}; the servers batch along the first dimension, so "
                    "it must be -1 (log the signature with a variable batch size)")
    return None


def _unsupported(flavors: Mapping[str, Any]) -> str:
    others = [name for name in flavors if name != PYFUNC]
    pyfunc = flavors.get(PYFUNC)
    loader = pyfunc.get("loader_module") if isinstance(pyfunc, Mapping) else None
    named = ", ".join(others) or (f"python_function with loader {loader}" if loader else "none")
    return (f"flavour {named} cannot be served; the servers load {', '.join(NATIVE_FLAVOURS)} and "
            "mlflow.pyfunc.PythonModel models")
