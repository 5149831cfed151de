"""Offline checks of Kubernetes OpenAPI v3 schemas for tests: structural rules, validation with jsonschema.

The API server's dialect differs from JSON Schema in a few words (`nullable`, int-or-string, boolean
`exclusiveMinimum`, `x-kubernetes-preserve-unknown-fields`); `to_json_schema` translates them so a
standard validator gives the answer the API server would for everything but CEL rules and formats.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema

_JUNCTORS = ("anyOf", "allOf", "oneOf", "not")
_FORBIDDEN_IN_JUNCTORS = ("type", "default", "nullable", "additionalProperties", "description")


def served_schema(crd: Mapping[str, Any], version: str | None = None) -> dict[str, Any]:
    """The openAPIV3Schema of the given (or the storage) version of a CRD."""
    versions = crd["spec"]["versions"]
    for entry in versions:
        if (version is None and entry.get("storage")) or entry["name"] == version:
            return entry["schema"]["openAPIV3Schema"]
    served = [v["name"] for v in versions if v.get("served")]
    raise KeyError(f"{crd['metadata']['name']} serves no version {version!r} (served: {served})")


def to_json_schema(node: Any) -> Any:
    """Translate an OpenAPI v3 schema as Kubernetes reads it into standard JSON Schema (draft 2020-12)."""
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: to_json_schema(value) for key, value in node.items() if not key.startswith("x-kubernetes")}
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if out.get(bound) is True:
            out[bound] = out.pop(limit)
        elif out.get(bound) is False:
            del out[bound]
    if node.get("x-kubernetes-int-or-string"):
        out.pop("anyOf", None)
        out["type"] = ["integer", "string"]
    if node.get("x-kubernetes-preserve-unknown-fields") and "type" not in out:
        out.pop("type", None)
    if out.pop("nullable", False):
        out["type"] = [*_as_list(out.get("type")), "null"] if "type" in out else None
        if out["type"] is None:
            del out["type"]
    out.pop("format", None)  # the API server checks only some formats; do not over-reject offline
    return out


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


class SchemaValidator:
    """A compiled OpenAPI v3 schema; compiling the big upstream schemas once keeps checks fast."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self._validator = jsonschema.Draft202012Validator(to_json_schema(dict(schema)))

    def problems(self, obj: Mapping[str, Any]) -> list[str]:
        """Problems of `obj`, one `path: message` line each (empty when valid)."""
        errors = sorted(
            self._validator.iter_errors(dict(obj)), key=lambda e: [str(p) for p in e.absolute_path]
        )
        return [f"{'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in errors]


def validate(obj: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """Problems of `obj` against an OpenAPI v3 schema, one `path: message` line each (empty when valid)."""
    return SchemaValidator(schema).problems(obj)


def structural_problems(schema: Mapping[str, Any], path: str = "") -> Iterator[str]:
    """Where a schema breaks the rules of a structural schema (which apiextensions/v1 requires)."""
    if "$ref" in schema:
        yield f"{path or '(root)'}: $ref is not allowed"
    typed = (
        "type" in schema
        or schema.get("x-kubernetes-int-or-string")
        or schema.get("x-kubernetes-preserve-unknown-fields")
    )
    if not typed:
        yield f"{path or '(root)'}: no type"
    if "properties" in schema and "additionalProperties" in schema:
        yield f"{path}: properties and additionalProperties are mutually exclusive"
    for name, child in schema.get("properties", {}).items():
        yield from structural_problems(child, f"{path}.{name}" if path else name)
    if isinstance(schema.get("items"), dict):
        yield from structural_problems(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from structural_problems(schema["additionalProperties"], f"{path}.*")
    for junctor in _JUNCTORS:
        branches = schema.get(junctor, [])
        for branch in branches if isinstance(branches, list) else [branches]:
            yield from _junctor_problems(branch, schema, f"{path}.{junctor}")


def _junctor_problems(branch: Mapping[str, Any], parent: Mapping[str, Any], path: str) -> Iterator[str]:
    int_or_string = parent.get("x-kubernetes-int-or-string") and branch in (
        {"type": "integer"},
        {"type": "string"},
    )
    for word in _FORBIDDEN_IN_JUNCTORS:
        if word in branch and not int_or_string:
            yield f"{path}: {word} is not allowed inside a logical junctor"
