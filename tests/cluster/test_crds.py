"""The upstream CRDs and ours on a real API server: served, and our ModelDeployment schema enforced by
the server itself (an invalid resource refused with the field named)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from rendering import CHART, crds_folder

from kubeloop.devtools.cluster import ControlPlane

pytestmark = pytest.mark.cluster
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CLUSTER_EXAMPLES = ("iris-kserve.yaml", "iris-istio.yaml", "iris-gateway-api.yaml")


def _crd_names(folder: Path) -> set[str]:
    """metadata.name of every CRD under a folder (libyaml: the upstream files run to megabytes)."""
    return {doc["metadata"]["name"] for path in folder.rglob("*.yaml")
            for doc in yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader)
            if doc and doc.get("kind") == "CustomResourceDefinition"}


def test_upstream_and_own_crds_are_established(installed_crds: ControlPlane) -> None:
    wanted = _crd_names(crds_folder(os.environ)) | _crd_names(CHART / "crds")
    assert {"inferenceservices.serving.kserve.io", "modeldeployments.kubeloop.io"} <= wanted
    served = set(installed_crds.served(sorted(wanted)))
    assert served == wanted, sorted(wanted - served)


def _example(name: str, namespace: str) -> dict[str, Any]:
    """A ModelDeployment example moved into the test's namespace."""
    doc: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text())
    doc["metadata"]["namespace"] = namespace
    return doc


def _kept(sent: Any, stored: Any) -> bool:
    """Whether everything sent is in what the server stored (defaults may add fields, none may drop)."""
    if isinstance(sent, dict):
        return isinstance(stored, dict) and all(k in stored and _kept(v, stored[k]) for k, v in sent.items())
    if isinstance(sent, list):
        return isinstance(stored, list) and len(sent) == len(stored) and all(map(_kept, sent, stored))
    return bool(sent == stored)


@pytest.mark.parametrize("example", CLUSTER_EXAMPLES)
def test_the_cluster_examples_are_accepted_and_stored_whole(
        installed_crds: ControlPlane, namespace: str, example: str) -> None:
    sent = _example(example, namespace)
    installed_crds.kubectl("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump(sent))
    stored = yaml.safe_load(installed_crds.kubectl("get", "modeldeployment", "iris", "-n", namespace,
                                                   "-o", "yaml").stdout)
    assert _kept(sent["spec"], stored["spec"]), stored["spec"]  # no field pruned as unknown
    assert stored["metadata"]["generation"] == 1


@pytest.mark.parametrize(("path", "value", "message"), [
    (("rollout", "shadow", "percent"), 150, "spec.rollout.shadow.percent: Invalid value: 150"),
    (("rollout", "canary", "steps"), [10, 250], "spec.rollout.canary.steps[1]: Invalid value: 250"),
    (("router",), "linkerd", 'spec.router: Unsupported value: "linkerd"'),
    (("rollout", "canary", "interval"), "soon", "spec.rollout.canary.interval"),
])
def test_an_invalid_model_deployment_is_refused_by_the_server_naming_the_field(
        installed_crds: ControlPlane, namespace: str, path: tuple[str, ...], value: object,
        message: str) -> None:
    doc = _example("iris-kserve.yaml", namespace)
    node = doc["spec"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    refused = installed_crds.kubectl("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump(doc),
                                     check=False)
    assert refused.returncode != 0
    assert message in refused.stderr, refused.stderr
    missing = installed_crds.kubectl("get", "modeldeployment", "iris", "-n", namespace, check=False)
    assert "NotFound" in missing.stderr  # nothing half-stored
