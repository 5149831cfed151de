"""Pipeline parameters typed by the pipeline function's signature (as KFP reads it): a pure binding.

CLI values arrive as strings and are converted to the declared type; Python values are checked.
Unknown, missing and mistyped parameters are refused in one line naming them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kubeloop.errors import KubeloopError

_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")
_TYPE_NAMES = {
    "String": "a string",
    "Integer": "an integer",
    "Float": "a number",
    "Boolean": "true or false",
    "List": "a JSON list",
    "Dict": "a JSON object",
}


class ParameterError(KubeloopError):
    """A pipeline parameter was refused; the message names it."""


def bind_params(
    inputs: Mapping[str, Any],
    params: Mapping[str, Any],
    *,
    pipeline: str,
    preset: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The pipeline's arguments: `params` over `preset` defaults, each converted to its declared type.

    `inputs` is the pipeline's `component_spec.inputs` (name -> InputSpec with `type`, `default`).
    """
    merged = {**dict(preset or {}), **dict(params)}
    if unknown := sorted(set(merged) - set(inputs)):
        takes = ", ".join(inputs) or "no parameters"
        raise ParameterError(
            f"unknown parameter(s) {', '.join(unknown)} for pipeline {pipeline}; it takes {takes}"
        )
    artifacts = sorted(name for name, spec in inputs.items() if spec.type not in _TYPE_NAMES)
    if artifacts:
        raise ParameterError(
            f"pipeline {pipeline} takes artifact input(s) {', '.join(artifacts)}: "
            "a pipeline run with parameters only takes parameters"
        )
    required = [name for name, spec in inputs.items() if not spec.optional and name not in merged]
    if required:
        raise ParameterError(
            f"missing parameter(s) {', '.join(required)} for pipeline {pipeline} (-p name=value)"
        )
    return {name: convert(name, value, inputs[name].type) for name, value in merged.items()}


def convert(name: str, value: Any, kind: str) -> Any:
    """One value as the declared KFP type; ParameterError naming the parameter when it is not one."""
    try:
        converted = _from_text(value, kind) if isinstance(value, str) else _checked(value, kind)
    except (ValueError, TypeError):
        converted = None
    if converted is None:
        raise ParameterError(f"parameter {name}: expected {_TYPE_NAMES[kind]}, got {value!r}")
    return converted


def _from_text(text: str, kind: str) -> Any:
    if kind == "String":
        return text
    if kind == "Integer":
        return int(text.strip())
    if kind == "Float":
        return float(text.strip())
    if kind == "Boolean":
        lowered = text.strip().lower()
        return True if lowered in _TRUE else False if lowered in _FALSE else None
    return _checked(json.loads(text), kind)


def _checked(value: Any, kind: str) -> Any:
    if kind == "Integer" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "Integer" and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind == "Float" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    accepted = {"String": str, "Boolean": bool, "List": list, "Dict": dict}.get(kind)
    return value if accepted is not None and isinstance(value, accepted) else None
