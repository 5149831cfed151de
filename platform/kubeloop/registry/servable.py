"""Whether kubeloop's model servers can load an MLflow model: pure checks on its MLmodel metadata.

Registration refuses, before anything is written, a model without a signature (the message shows
how to add one) and one the servers cannot load. Which flavours and signatures the servers load is
the serving side's answer (`kubeloop.serving.core.flavours.unservable_reason`): the registry never
imports serving, which imports the registry.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

PYFUNC = "python_function"
# python_function loader module -> the flavour name the servers know it by.
SERVED_LOADERS = {
    "mlflow.sklearn": "sklearn",
    "mlflow.lightgbm": "lightgbm",
    "mlflow.xgboost": "xgboost",
    "mlflow.onnx": "onnx",
    "mlflow.pyfunc.model": "pyfunc (PythonModel)",
}


def model_flavor(flavors: Mapping[str, Any]) -> str:
    """The model's own flavour (sklearn, lightgbm...): the first one that is not python_function."""
    named = [name for name in flavors if name != PYFUNC]
    if named:
        return named[0]
    loader = str((flavors.get(PYFUNC) or {}).get("loader_module", ""))
    return SERVED_LOADERS.get(loader, loader or "unknown")


def missing_signature_message(*, model_uri: str, flavor: str) -> str:
    """The refusal for a model logged without a signature, with the line that adds one."""
    module = flavor if flavor.isidentifier() else "pyfunc"
    return (
        f"model {model_uri} has no signature; log it with one: "
        f'mlflow.{module}.log_model(model, name="model", '
        "signature=mlflow.models.infer_signature(X, model.predict(X)), input_example=X[:5]) "
        f'or add it in place: mlflow.models.set_signature("{model_uri}", signature)'
    )


def input_names(signature: Mapping[str, Any] | None) -> list[str]:
    """The signature's input column names, in order."""
    return [str(spec["name"]) for spec in _inputs(signature) if spec.get("name")]


def _inputs(signature: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    raw = (signature or {}).get("inputs") or "[]"
    decoded = json.loads(raw) if isinstance(raw, str) else raw
    return [dict(spec) for spec in decoded]
