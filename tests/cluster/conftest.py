"""Fixtures of the tests against a real control plane: one per session, a namespace per test; and, for
the operator's tests, a real MLflow registry, a real Prometheus and the simulated model-server metrics
it scrapes (one of each per session).

The control plane is built by `make install` (`python -m kubeloop.devtools install`); without it the
`control_plane` fixture fails saying so. Tests here carry the `cluster` marker.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from models_registry import Models
from operator_env import KSERVE_NAMESPACE
from prometheus_harness import LocalPrometheus, local_prometheus
from rendering import CHART, crds_folder
from traffic import Traffic, simulated_traffic

from kubeloop.devtools.cluster import ControlPlane, start
from kubeloop.k8s.api import KubeApi
from kubeloop.registry.mlflow_registry import MlflowRegistry
from kubeloop.serving.testing import register_iris
from kubeloop.settings import Settings


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """A running control plane (etcd, API server, controller manager, scheduler, kwok with 3 nodes).

    Its state folder (certificates, kubeconfigs, logs/) stays in pytest's temporary folder afterwards.
    """
    plane = start(root=tmp_path_factory.mktemp("control-plane"), log=lambda _line: None)
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def installed_crds(control_plane: ControlPlane) -> ControlPlane:
    """The upstream CRDs (KServe, Istio, Gateway API, Prometheus Operator, Argo) and the chart's own,
    applied server-side and Established."""
    folders = [crds_folder(os.environ), CHART / "crds"]
    applied = control_plane.kubectl("apply", "--server-side", "--force-conflicts", "-R", "-o", "name",
                                    *(f"--filename={folder}" for folder in folders)).stdout
    control_plane.wait_for_crds([line.split("/", 1)[1] for line in applied.split()])
    return control_plane


@pytest.fixture
def namespace(control_plane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards (without waiting for it to go)."""
    name = f"t-{request.node.name[:40].lower().strip('_-')}-{uuid.uuid4().hex[:6]}"
    name = "".join(c if c.isalnum() or c == "-" else "-" for c in name)
    control_plane.kubectl("create", "namespace", name)
    yield name
    # ModelDeployments go first: an operator of a later test that met one in a terminating namespace
    # would be refused there, and those tests count every 403. (Without the CRD this finds nothing.)
    control_plane.kubectl("delete", "modeldeployments.kubeloop.io", "--all", "-n", name, "--wait=false",
                          check=False)
    control_plane.kubectl("delete", "namespace", name, "--wait=false")


def write_yaml(path: Path, text: str) -> Path:
    """Write a manifest for kubectl -f."""
    path.write_text(text)
    return path


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    """The session's registry, with the seed model registered."""
    home = tmp_path_factory.mktemp("registry")
    settings = Settings(home=home, tracking_uri=f"sqlite:///{home / 'mlflow.db'}").ensure_dirs()
    version = register_iris(settings, name="iris-seed", kind="logreg")
    seed = MlflowRegistry(tracking_uri=settings.tracking_uri).get_version("iris-seed", version)
    return Models(settings=settings, seed_uri=seed.source)


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPrometheus]:
    """A real Prometheus on loopback scraping every second what `set_targets` names."""
    with local_prometheus(tmp_path_factory.mktemp("prometheus"), scrape_interval="1s") as server:
        yield server


@pytest.fixture(scope="session")
def traffic(installed_crds: ControlPlane, prometheus: LocalPrometheus) -> Iterator[Traffic]:
    """Simulated model-server metrics, scraped by `prometheus`, following the routes of the deployments
    a test asks it to follow (see traffic.py: kwok pods run no model servers)."""
    with installed_crds.api_client() as client, simulated_traffic(
            api=KubeApi(client), set_targets=prometheus.set_targets) as running:
        yield running


@pytest.fixture(scope="session")
def kserve_installed(installed_crds: ControlPlane) -> ControlPlane:
    """What installing KServe leaves besides its CRDs that the operator reads: its namespace and the
    `inferenceservice-config` ConfigMap (Serverless, the default of KServe's own chart)."""
    config = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": "inferenceservice-config", "namespace": KSERVE_NAMESPACE},
              "data": {"deploy": json.dumps({"defaultDeploymentMode": "Serverless"})}}
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": KSERVE_NAMESPACE}}
    installed_crds.kubectl("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump_all([namespace, config]))
    return installed_crds
