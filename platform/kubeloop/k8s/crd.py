"""The ModelDeployment CustomResourceDefinition, generated from the same pydantic schema the local mode uses.

Pydantic's JSON schema is turned into a Kubernetes *structural* schema: references inlined, `null`
alternatives turned into `nullable`, durations into int-or-string, JSON-Schema-2020 exclusive bounds into
OpenAPI 3.0 booleans, and the defaults of nested objects filled in so the API server defaults them too.
"""

from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.functional_validators import BeforeValidator

from kubeloop.k8s.status import status_schema
from kubeloop.spec import API_VERSION, KIND, ModelDeployment, parse_duration

GROUP, VERSION = API_VERSION.split("/")
PLURAL = "modeldeployments"
SINGULAR = "modeldeployment"
SHORT_NAMES = ["md", "mdep"]
CRD_NAME = f"{PLURAL}.{GROUP}"
# Durations are whole seconds or strings such as "90s", "5m", "1.5h" (the CRD cannot say "number or string").
DURATION_PATTERN = r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)?\s*$"
_DROP = {"title", "additionalProperties", "$defs"}


def _nested_models(cls: type[BaseModel], seen: dict[str, type[BaseModel]]) -> dict[str, type[BaseModel]]:
    seen[cls.__name__] = cls
    for field in cls.model_fields.values():
        for arg in _flatten(field.annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel) and arg.__name__ not in seen:
                _nested_models(arg, seen)
    return seen


def _flatten(annotation: Any) -> list[Any]:
    return [annotation, *(inner for arg in typing.get_args(annotation) for inner in _flatten(arg))]


def _is_duration(field: Any) -> bool:
    return any(isinstance(m, BeforeValidator) and m.func is parse_duration for m in field.metadata)


def _wire(value: Any) -> Any:
    """Integral floats as ints (defaults must fit int-or-string durations), null fields left out."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value


Overrides = dict[tuple[str, str], dict[str, Any]]


def _field_overrides(models: dict[str, type[BaseModel]]) -> Overrides:
    """Per (model, wire name): the duration marker and the defaults pydantic leaves out of its schema."""
    overrides: Overrides = {}
    for model_name, cls in models.items():
        for name, field in cls.model_fields.items():
            wire = field.alias or name
            extra: dict[str, Any] = {}
            if _is_duration(field):
                extra["duration"] = True
            if field.default_factory is not None:
                value = field.default_factory()  # type: ignore[call-arg]  # ours take no validated data
                adapter: TypeAdapter[Any] = TypeAdapter(field.annotation)
                extra["default"] = adapter.dump_python(value, mode="json", by_alias=True)
            if extra:
                overrides[(model_name, wire)] = extra
    return overrides


def _structural(node: Any, defs: dict[str, Any], overrides: Overrides, owner: str | None = None) -> Any:
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        merged = {**defs[name], **{k: v for k, v in node.items() if k != "$ref"}}
        return _structural(merged, defs, overrides, owner=name)
    any_of = node.get("anyOf")
    if any_of and {"type": "null"} in any_of:
        rest = [option for option in any_of if option != {"type": "null"}]
        inner = {k: v for k, v in node.items() if k != "anyOf"}
        return {**_structural({**rest[0], **inner}, defs, overrides, owner), "nullable": True}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "properties":
            out[key] = {
                prop: _property(schema, defs, overrides, overrides.get((owner or "", prop), {}))
                for prop, schema in value.items()
            }
        elif key in ("items", "not"):
            out[key] = _structural(value, defs, overrides)
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        else:
            out[key] = value
    if node.get("type") == "object" and node.get("additionalProperties") is True:
        out["x-kubernetes-preserve-unknown-fields"] = True
    elif isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = _structural(node["additionalProperties"], defs, overrides)
    if out.get("default", 0) is None:
        del out["default"]
    return out


def _property(
    schema: dict[str, Any], defs: dict[str, Any], overrides: Overrides, extra: dict[str, Any]
) -> dict[str, Any]:
    out: dict[str, Any] = _structural(schema, defs, overrides)
    if extra.get("duration"):
        keep = {k: v for k, v in out.items() if k in ("description", "default", "nullable")}
        # Pattern sits beside anyOf: it constrains strings only, which is what int-or-string needs.
        out = {
            **keep,
            "x-kubernetes-int-or-string": True,
            "pattern": DURATION_PATTERN,
            "anyOf": [{"type": "integer"}, {"type": "string"}],
        }
    if "default" in extra:
        out["default"] = extra["default"]
    if "default" in out:
        out["default"] = _wire(out["default"])
    return out


def spec_schema() -> dict[str, Any]:
    """The structural openAPIV3Schema of a ModelDeployment's `spec`."""
    models = _nested_models(ModelDeployment, {})
    full = ModelDeployment.model_json_schema(by_alias=True, mode="validation")
    defs = full.get("$defs", {})
    spec: dict[str, Any] = _structural({"$ref": "#/$defs/DeploymentBody"}, defs, _field_overrides(models))
    spec.pop("default", None)
    return spec


def openapi_schema() -> dict[str, Any]:
    """The whole object's schema: apiVersion, kind, metadata, spec and status."""
    return {
        "type": "object",
        "description": ModelDeployment.__doc__,
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": spec_schema(),
            "status": status_schema(),
        },
    }


PRINTER_COLUMNS = [
    {"name": "Model", "type": "string", "jsonPath": ".spec.model.name"},
    {"name": "Champion", "type": "string", "jsonPath": ".status.champion"},
    {"name": "Challenger", "type": "string", "jsonPath": ".status.challenger"},
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Weight", "type": "integer", "jsonPath": ".status.canaryWeight"},
    {"name": "Router", "type": "string", "jsonPath": ".spec.router", "priority": 1},
    {"name": "Reason", "type": "string", "jsonPath": ".status.lastDecision.reason", "priority": 1},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]


def build_crd() -> dict[str, Any]:
    """The `apiextensions.k8s.io/v1` CustomResourceDefinition for `modeldeployments.kubeloop.io`."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME, "labels": {"app.kubernetes.io/part-of": "kubeloop"}},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "plural": PLURAL,
                "singular": SINGULAR,
                "kind": KIND,
                "listKind": f"{KIND}List",
                "shortNames": SHORT_NAMES,
                "categories": ["kubeloop"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": openapi_schema()},
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                }
            ],
        },
    }


def build_peering_crd() -> dict[str, Any]:
    """kopf's ClusterKopfPeering CRD: where operator replicas see each other, so only one acts."""
    preserve = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "clusterkopfpeerings.kopf.dev"},
        "spec": {
            "group": "kopf.dev",
            "scope": "Cluster",
            "names": {
                "plural": "clusterkopfpeerings",
                "singular": "clusterkopfpeering",
                "kind": "ClusterKopfPeering",
            },
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {"status": preserve}}},
                }
            ],
        },
    }


def build_peering(name: str = "kubeloop") -> dict[str, Any]:
    """The ClusterKopfPeering object the operator's replicas register in."""
    return {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": name}}
