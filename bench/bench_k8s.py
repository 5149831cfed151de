"""Operator reconcile at steady state: API requests, writes and time per reconcile, ours vs apply-always.

Ours compares each desired object with the live one and writes only what differs; the alternative
patches every object on every reconcile (what a naive `kubectl apply` loop does). Both run the real
kubernetes client against a recording API server on loopback. Run: python bench/bench_k8s.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "contract"))

from apiserver import FakeApiServer
from kubernetes.client import ApiClient, Configuration

from kubeloop.k8s import api as k8s_api
from kubeloop.k8s.config import ClusterConfig
from kubeloop.k8s.reconcile import Backends, Reconciler

RECONCILES = 40
MD = "/apis/kubeloop.io/v1alpha1/namespaces/models/modeldeployments/iris"


class _Version:
    def __init__(self, version: str) -> None:
        self.version = version


class _Registry:
    def version_for_alias(self, name: str, alias: str) -> _Version | None:
        return _Version("3") if alias == "champion" else None


class _Metrics:
    def query(self, query: object) -> float | None:
        return 0.0


def measure(router: str, *, always_write: bool) -> tuple[float, float, float]:
    """(requests, writes, milliseconds) per reconcile once everything exists."""
    with FakeApiServer() as server:
        server.put_object(
            MD,
            {
                "apiVersion": "kubeloop.io/v1alpha1",
                "kind": "ModelDeployment",
                "metadata": {"name": "iris", "namespace": "models"},
                "spec": {"model": {"name": "iris-classifier"}, "router": router},
            },
        )
        client = ApiClient(Configuration(host=server.url))
        operator = Reconciler(
            api=k8s_api.KubeApi(client),
            config=ClusterConfig(),
            backends=Backends(registry=_Registry(), metrics=_Metrics()),
        )
        operator.reconcile(namespace="models", name="iris")
        server.requests.clear()
        patcher = (
            mock.patch.object(k8s_api, "contains", lambda live, desired: False) if always_write else None
        )
        if patcher:
            patcher.start()
        started = time.perf_counter()
        for _ in range(RECONCILES):
            operator.reconcile(namespace="models", name="iris")
        elapsed = time.perf_counter() - started
        if patcher:
            patcher.stop()
        client.close()
        writes = sum(1 for r in server.requests if r.method != "GET")
        return len(server.requests) / RECONCILES, writes / RECONCILES, elapsed * 1000 / RECONCILES


def main() -> None:
    print(
        f"steady-state reconcile, {RECONCILES} rounds per router, real kubernetes client, loopback API server"
    )
    print(
        f"{'router':<12} {'':>4} {'ours req':>9} {'naive req':>10} {'ours wr':>8} {'naive wr':>9} "
        f"{'ours ms':>8} {'naive ms':>9} {'ms ratio':>9}"
    )
    for router in ("kserve", "istio", "gateway-api"):
        ours = measure(router, always_write=False)
        naive = measure(router, always_write=True)
        print(
            f"{router:<12} {'':>4} {ours[0]:>9.1f} {naive[0]:>10.1f} {ours[1]:>8.1f} {naive[1]:>9.1f} "
            f"{ours[2]:>8.2f} {naive[2]:>9.2f} {naive[2] / ours[2]:>8.2f}x"
        )


if __name__ == "__main__":
    main()
