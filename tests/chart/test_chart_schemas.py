"""Every rendered object validates: core kinds with kubernetes-validate at the oldest and newest supported
minor, custom resources against the upstream CRDs (or, for kubeloop's and kopf's own, the chart's crds/)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from openapi_schemas import SchemaValidator, served_schema
from rendering import CHART, CRDS_ENV, SCENARIOS, crds_folder

pytestmark = pytest.mark.k8s

# Chart.yaml says kubeVersion >=1.29; 1.37 is the newest schema kubernetes-validate ships.
KUBE_MINORS = ("1.29.0", "1.37.0")
CUSTOM_GROUPS = ("monitoring.coreos.com", "networking.istio.io", "gateway.networking.k8s.io",
                 "serving.kserve.io", "kopf.dev", "kubeloop.io")


def _is_custom(obj: dict[str, Any]) -> bool:
    return obj["apiVersion"].split("/")[0] in CUSTOM_GROUPS


class CrdIndex:
    """Validators for custom resources, compiled on first use: the upstream CRDs are large and many."""

    def __init__(self, folders: list[Path]) -> None:
        self._files = [path for folder in folders for path in sorted(folder.rglob("*.yaml"))]
        self._cache: dict[tuple[str, str], SchemaValidator | None] = {}

    def get(self, api_version: str, kind: str) -> SchemaValidator | None:
        """The validator for one apiVersion and kind, or None when no CRD defines it."""
        key = (api_version, kind)
        if key not in self._cache:
            self._cache[key] = self._find(api_version, kind)
        return self._cache[key]

    def _find(self, api_version: str, kind: str) -> SchemaValidator | None:
        group, version = api_version.split("/")
        for path in self._files:
            text = path.read_text()
            if f"kind: {kind}\n" not in text:  # cheap pre-filter before parsing megabytes of YAML
                continue
            for crd in yaml.load_all(text, Loader=yaml.CSafeLoader):
                if crd and crd.get("kind") == "CustomResourceDefinition" and crd["spec"]["group"] == group \
                        and crd["spec"]["names"]["kind"] == kind:
                    return SchemaValidator(served_schema(crd, version))
        return None


@pytest.fixture(scope="module")
def crd_validators(crds_dir: Path) -> CrdIndex:
    return CrdIndex([crds_dir, CHART / "crds"])


@pytest.mark.parametrize("minor", KUBE_MINORS)
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_core_objects_validate(rendered: dict[str, list[dict[str, Any]]], scenario: str, minor: str) -> None:
    problems = []
    for obj in rendered[scenario]:
        if _is_custom(obj):
            continue
        try:
            kubernetes_validate.validate(obj, minor, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message} at {list(exc.path)}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_custom_resources_validate_against_crds(
    rendered: dict[str, list[dict[str, Any]]],
    crd_validators: CrdIndex,
    scenario: str,
) -> None:
    problems = []
    for obj in filter(_is_custom, rendered[scenario]):
        validator = crd_validators.get(obj["apiVersion"], obj["kind"])
        if validator is None:
            problems.append(f"no CRD for {obj['apiVersion']} {obj['kind']}")
            continue
        problems += [f"{obj['kind']}/{obj['metadata']['name']}: {p}" for p in validator.problems(obj)]
    assert not problems, "\n".join(problems)


def test_monitoring_objects_follow_values(rendered: dict[str, list[dict[str, Any]]]) -> None:
    kinds = {obj["kind"] for obj in rendered["production"]}
    assert {"ServiceMonitor", "PodMonitor", "PrometheusRule"} <= kinds
    off = {obj["kind"] for obj in rendered["monitoring-off"]}
    assert not off & {"ServiceMonitor", "PodMonitor", "PrometheusRule"}


def test_a_broken_object_is_caught(crd_validators: CrdIndex) -> None:
    """The validators are live: a ServiceMonitor with a wrongly typed field is refused."""
    bad = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "x"},
           "spec": {"selector": {}, "endpoints": [{"port": 8080}]}}
    validator = crd_validators.get("monitoring.coreos.com/v1", "ServiceMonitor")
    assert validator is not None
    assert any(p.startswith("spec.endpoints.0.port") for p in validator.problems(bad))
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
                                      "spec": {"ports": [{"port": "http"}]}}, KUBE_MINORS[0], strict=True)


def test_missing_crds_setting_says_how_to_set_it(tmp_path: Path) -> None:
    with pytest.raises(LookupError, match=f"{CRDS_ENV} is not set.*export {CRDS_ENV}="):
        crds_folder({})
    with pytest.raises(LookupError, match="is not a folder"):
        crds_folder({CRDS_ENV: str(tmp_path / "missing")})
