"""The ModelDeployment CRD: structural, generated from the spec schema, accepting what the spec accepts."""

from __future__ import annotations

from pathlib import Path

import openapi_schemas as openapi
import pytest
import yaml

from kubeloop.k8s.crd import CRD_NAME, build_crd
from kubeloop.spec import load_deployment

EXAMPLES = sorted((Path(__file__).parents[3] / "examples").glob("iris*.yaml"))


@pytest.fixture(scope="module")
def schema() -> dict:
    return openapi.served_schema(build_crd())


def test_crd_identity_and_columns() -> None:
    crd = build_crd()
    assert crd["metadata"]["name"] == CRD_NAME == "modeldeployments.kubeloop.io"
    spec = crd["spec"]
    assert spec["scope"] == "Namespaced" and "md" in spec["names"]["shortNames"]
    (version,) = spec["versions"]
    assert version["name"] == "v1alpha1" and version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns["Model"] == ".spec.model.name" and columns["Weight"] == ".status.canaryWeight"
    assert {"Champion", "Challenger", "Phase", "Age"} <= columns.keys()


def test_schema_is_structural(schema: dict) -> None:
    assert list(openapi.structural_problems(schema)) == []


def test_defaults_are_filled_for_nested_objects(schema: dict) -> None:
    rollout = schema["properties"]["spec"]["properties"]["rollout"]
    assert rollout["default"]["canary"] == {"steps": [10, 25, 50], "interval": 60}
    assert rollout["properties"]["shadow"]["nullable"] is True
    duration = rollout["properties"]["canary"]["properties"]["interval"]
    assert duration["x-kubernetes-int-or-string"] is True and duration["default"] == 60
    drift = schema["properties"]["spec"]["properties"]["drift"]["properties"]
    assert drift["params"]["x-kubernetes-preserve-unknown-fields"] is True
    assert drift["driftShareThreshold"]["exclusiveMinimum"] is True


def test_every_example_and_its_defaults_validate(schema: dict) -> None:
    assert EXAMPLES, "examples/iris*.yaml missing"
    for path in EXAMPLES:
        raw = yaml.safe_load(path.read_text())
        assert openapi.validate(raw, schema) == [], path
        assert openapi.validate(load_deployment(path).to_manifest(), schema) == [], path


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"router": "nginx"}, "spec.router"),
        ({"serving": {"runtime": "torchserve"}}, "spec.serving.runtime"),
        ({"rollout": {"canary": {"steps": [10, 150]}}}, "spec.rollout.canary.steps.1"),
        ({"rollout": {"canary": {"interval": "soon"}}}, "spec.rollout.canary.interval"),
        (
            {"rollout": {"checks": [{"name": "x", "kind": "magic", "threshold": 1}]}},
            "spec.rollout.checks.0.kind",
        ),
        ({"drift": {"driftShareThreshold": 0}}, "spec.drift.driftShareThreshold"),
        ({"model": {}}, "spec.model"),
    ],
)
def test_schema_rejects_bad_specs_naming_the_field(schema: dict, patch: dict, field: str) -> None:
    manifest = {
        "apiVersion": "kubeloop.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": "iris"},
        "spec": {"model": {"name": "iris"}, **patch},
    }
    problems = openapi.validate(manifest, schema)
    assert problems and any(p.startswith(f"{field}:") for p in problems), problems


def test_status_conditions_are_a_map_list(schema: dict) -> None:
    conditions = schema["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    status = {
        "phase": "canary",
        "canaryWeight": 25,
        "conditions": [
            {"type": "Ready", "status": "Maybe", "reason": "X", "message": "", "lastTransitionTime": "now"}
        ],
    }
    problems = openapi.validate({"spec": {"model": {"name": "m"}}, "status": status}, schema)
    assert problems == ["status.conditions.0.status: 'Maybe' is not one of ['True', 'False', 'Unknown']"]


def _defaults(node: dict, path: str = "") -> list[tuple[str, dict, object]]:
    found = [(path, node, node["default"])] if "default" in node else []
    for name, child in node.get("properties", {}).items():
        found += _defaults(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        found += _defaults(node["items"], f"{path}[]")
    return found


def test_every_default_validates_against_its_own_schema_and_holds_no_null(schema: dict) -> None:
    defaults = _defaults(schema)
    assert len(defaults) > 20
    for path, node, default in defaults:
        wrapper = {"type": "object", "properties": {"value": node}}
        assert openapi.validate({"value": default}, wrapper) == [], path
        assert "None" not in repr(default), path
