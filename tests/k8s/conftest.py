"""Upstream CRDs for schema validation, found through KUBELOOP_CRDS_DIR (the CI script sets it)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import openapi_schemas as openapi
import pytest
import yaml

CRDS_ENV = "KUBELOOP_CRDS_DIR"


class UpstreamCrds:
    """CRDs found by (group, kind), each validating objects against the served version's schema."""

    def __init__(self, folder: Path) -> None:
        self.files = {path: path.read_text() for path in sorted(folder.rglob("*.yaml"))}
        self._crds: dict[tuple[str, str], dict[str, Any]] = {}
        self._validators: dict[str, openapi.SchemaValidator] = {}

    def crd_for(self, obj: dict[str, Any]) -> dict[str, Any]:
        """The upstream CRD of the object's group and kind; only candidate files are parsed (they are big)."""
        group, kind = obj["apiVersion"].rsplit("/", 1)[0], obj["kind"]
        if (group, kind) not in self._crds:
            for text in self.files.values():
                if f"group: {group}" in text and f"kind: {kind}" in text:
                    for doc in yaml.load_all(text, Loader=yaml.CSafeLoader):
                        if doc and doc.get("kind") == "CustomResourceDefinition":
                            self._crds[(doc["spec"]["group"], doc["spec"]["names"]["kind"])] = doc
        try:
            return self._crds[(group, kind)]
        except KeyError:
            raise AssertionError(f"no upstream CRD for {obj['apiVersion']} {kind} in ${CRDS_ENV}") from None

    def problems(self, obj: dict[str, Any]) -> list[str]:
        """What the served version's schema of the object's CRD finds wrong with it."""
        key = f"{obj['apiVersion']}/{obj['kind']}"
        if key not in self._validators:
            version = obj["apiVersion"].rsplit("/", 1)[1]
            self._validators[key] = openapi.SchemaValidator(openapi.served_schema(self.crd_for(obj), version))
        return self._validators[key].problems(obj)


@pytest.fixture(scope="session")
def upstream_crds() -> UpstreamCrds:
    folder = os.environ.get(CRDS_ENV)
    if not folder:
        pytest.fail(
            f"{CRDS_ENV} is not set: point it at the folder of upstream CRDs (kserve, istio, gateway-api, "
            f"argo-workflows, prometheus-operator subfolders), e.g. `export {CRDS_ENV}=../shared/crds`; "
            "`.ci/run` sets it for you",
            pytrace=False,
        )
    path = Path(folder)
    if not path.is_dir():
        pytest.fail(f"{CRDS_ENV}={folder} is not a folder", pytrace=False)
    crds = UpstreamCrds(path)
    if not any("kind: CustomResourceDefinition" in text for text in crds.files.values()):
        pytest.fail(f"{CRDS_ENV}={folder} holds no CustomResourceDefinition YAML files", pytrace=False)
    return crds
