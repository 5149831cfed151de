"""The test control plane itself: the pinned release, loopback only, RBAC enforced, tokens from the
TokenRequest API, and workloads that reach Running and Ready on kwok's fake nodes."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import psutil
import pytest

from kubeloop.devtools import gobuild
from kubeloop.devtools.cluster import NODES, ControlPlane

pytestmark = pytest.mark.cluster


def test_server_and_kubectl_report_the_pinned_release_as_a_release_build_would(
        control_plane: ControlPlane) -> None:
    release = gobuild.kubernetes_release(gobuild.modules_dir() / "kube")
    tag = release["tag"]
    versions = json.loads(control_plane.kubectl("version", "-o", "json").stdout)
    for side in ("serverVersion", "clientVersion"):
        version = versions[side]
        assert version["gitVersion"] == tag, side
        assert (version["major"], version["minor"]) == tuple(tag.removeprefix("v").split(".")[:2]), side
        assert version["gitTreeState"] == "clean", side
        assert version["buildDate"] == release["build_date"], side  # the release's time


def test_every_process_listens_on_loopback_only(control_plane: ControlPlane) -> None:
    pids = json.loads((control_plane.layout.root / "pids.json").read_text())
    assert set(pids) == {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}
    for name, pid in pids.items():
        listening = [c.laddr for c in psutil.net_connections(kind="inet")
                     if c.pid == pid and c.status == psutil.CONN_LISTEN]
        assert listening, f"{name} listens nowhere"
        assert {address.ip for address in listening} == {"127.0.0.1"}, f"{name}: {listening}"


def test_kwok_nodes_are_ready(control_plane: ControlPlane) -> None:
    nodes = json.loads(control_plane.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    ready = [n["metadata"]["name"] for n in nodes
             if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])]
    assert len(ready) == NODES


DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: registry.example/web:1
          readinessProbe: {httpGet: {path: /, port: 8080}}
"""


def _items(plane: ControlPlane, resource: str, namespace: str) -> list[dict[str, Any]]:
    """Every object of one resource in a namespace."""
    out = plane.kubectl("get", resource, "-n", namespace, "-o", "json").stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def test_a_deployment_gets_a_replicaset_and_running_ready_pods_on_kwok_nodes(
        control_plane: ControlPlane, namespace: str) -> None:
    control_plane.kubectl("apply", "-n", namespace, "-f", "-", stdin=DEPLOYMENT)
    control_plane.kubectl("rollout", "status", "-n", namespace, "deployment/web", "--timeout=60s")
    replicasets = _items(control_plane, "rs", namespace)
    assert [rs["metadata"]["ownerReferences"][0]["name"] for rs in replicasets] == ["web"]
    pods = _items(control_plane, "pods", namespace)
    assert len(pods) == 2
    for pod in pods:
        assert pod["status"]["phase"] == "Running"
        assert pod["spec"]["nodeName"].startswith("kwok-node-")
        assert {c["type"]: c["status"] for c in pod["status"]["conditions"]}["Ready"] == "True"
        # The service-account admission plugin and the token projection of a real cluster.
        assert pod["spec"]["serviceAccountName"] == "default"
        assert any(v["name"].startswith("kube-api-access-") for v in pod["spec"]["volumes"])


def _jwt_claims(token: str) -> dict[str, object]:
    """The (unverified) payload of a JWT."""
    payload = token.split(".")[1]
    claims: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


def test_a_service_account_acts_with_its_own_token_under_rbac(
        control_plane: ControlPlane, namespace: str, tmp_path: Path) -> None:
    control_plane.kubectl("create", "serviceaccount", "reader", "-n", namespace)
    config = control_plane.service_account_kubeconfig(namespace=namespace, name="reader",
                                                     path=tmp_path / "reader.yaml")
    whoami = json.loads(control_plane.kubectl("auth", "whoami", "-o", "json", kubeconfig=config).stdout)
    assert whoami["status"]["userInfo"]["username"] == f"system:serviceaccount:{namespace}:reader"
    denied = control_plane.kubectl("get", "pods", "-n", namespace, kubeconfig=config, check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()
    control_plane.kubectl("create", "role", "pod-reader", "-n", namespace, "--verb=list", "--resource=pods")
    control_plane.kubectl("create", "rolebinding", "pod-reader", "-n", namespace, "--role=pod-reader",
                          f"--serviceaccount={namespace}:reader")
    control_plane.kubectl("get", "pods", "-n", namespace, kubeconfig=config)
    token = config.read_text().split("token: ")[1].split()[0]
    assert _jwt_claims(token)["iss"] == control_plane.server


def test_the_controller_manager_publishes_the_root_ca_in_a_new_namespace(
        control_plane: ControlPlane, namespace: str) -> None:
    control_plane.kubectl("wait", "-n", namespace, "--for=create", "configmap/kube-root-ca.crt",
                          "--timeout=30s")
    published = json.loads(control_plane.kubectl("get", "configmap", "kube-root-ca.crt", "-n", namespace,
                                                 "-o", "json").stdout)["data"]["ca.crt"]
    assert published.strip() == control_plane.layout.ca_file.read_text().strip()
