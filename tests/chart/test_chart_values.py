"""values.yaml: every value documented with `## @param`, valid against values.schema.json, and the schema
refuses wrong types with a message that names the key."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import jsonschema
import pytest
import yaml
from rendering import CHART, SCENARIOS, helm

pytestmark = pytest.mark.k8s

VALUES = CHART / "values.yaml"


def _leaves(node: Any, prefix: str = "") -> list[str]:
    """Dotted paths of every leaf value ({} and [] count as leaves)."""
    if isinstance(node, dict) and node:
        return [leaf for key, value in node.items() for leaf in _leaves(value, f"{prefix}{key}.")]
    return [prefix.rstrip(".")]


def _documented() -> set[str]:
    return set(re.findall(r"^\s*## @param ([\w.\-]+) \S", VALUES.read_text(), flags=re.M))


def test_every_value_is_documented() -> None:
    documented = _documented()
    # A map documented as a whole (resources, securityContext) covers its keys.
    undocumented = [leaf for leaf in _leaves(yaml.safe_load(VALUES.read_text()))
                    if not any(leaf == d or leaf.startswith(d + ".") for d in documented)]
    assert not undocumented, f"values without ## @param: {undocumented}"


def test_every_param_names_a_real_value() -> None:
    values = yaml.safe_load(VALUES.read_text())
    for path in _documented():
        node = values
        for key in path.split("."):
            assert isinstance(node, dict) and key in node, f"## @param {path} documents no value"
            node = node[key]


def test_defaults_and_scenarios_satisfy_the_schema() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    defaults = yaml.safe_load(VALUES.read_text())
    jsonschema.validate(defaults, schema)
    for path in filter(None, SCENARIOS.values()):
        merged = _merge(defaults, yaml.safe_load(path.read_text()))
        jsonschema.validate(merged, schema)


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        nested = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _merge(out[key], value) if nested else value
    return out


@pytest.mark.parametrize(
    ("setting", "key"),
    [
        ("gateway.replicaCount=two", "/gateway/replicaCount"),
        ("operator.metricsPort=http", "/operator/metricsPort"),
        ("monitoring.prometheusOperator.enabled=maybe", "/monitoring/prometheusOperator/enabled"),
        ("router.type=nginx", "/router/type"),
    ],
)
def test_wrong_type_is_refused_naming_the_key(setting: str, key: str) -> None:
    result = helm("template", "kl", str(CHART), "--set-string", setting, check=False)
    assert result.returncode != 0
    assert key in result.stderr, result.stderr


def test_unknown_key_is_refused() -> None:
    result = helm("template", "kl", str(CHART), "--set", "gatway.replicaCount=2", check=False)
    assert result.returncode != 0
    assert "gatway" in result.stderr


def test_external_database_needs_host_and_secret() -> None:
    result = helm("template", "kl", str(CHART), "--set", "postgresql.enabled=false", check=False)
    assert result.returncode != 0
    assert "externalDatabase" in result.stderr


def test_chart_files_derived_from_python_are_current() -> None:
    """The CRD and the dashboards are generated (hack/generate.py); the committed copies must match."""
    result = subprocess.run([sys.executable, str(CHART / "hack" / "generate.py"), "--check"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
