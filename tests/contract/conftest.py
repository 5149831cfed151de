"""A recording API server on loopback and the real kubernetes client pointed at it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes.client import ApiClient, Configuration

sys.path.insert(0, str(Path(__file__).parent))

from apiserver import FakeApiServer
from operator_fakes import Clock

from kubeloop.k8s.api import KubeApi


@pytest.fixture
def apiserver() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        yield server


@pytest.fixture
def kube(apiserver: FakeApiServer) -> Iterator[KubeApi]:
    configuration = Configuration(host=apiserver.url)
    client = ApiClient(configuration)
    yield KubeApi(client)
    client.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()
