"""Fixtures of the tests against a real control plane: one per session, a namespace per test.

The control plane is built by `make install` (`python -m kubeloop.devtools install`); without it the
`control_plane` fixture fails saying so. Tests here carry the `cluster` marker.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from rendering import CHART, crds_folder

from kubeloop.devtools.cluster import ControlPlane, start


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
    control_plane.kubectl("delete", "namespace", name, "--wait=false")


def write_yaml(path: Path, text: str) -> Path:
    """Write a manifest for kubectl -f."""
    path.write_text(text)
    return path
