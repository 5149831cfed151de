"""Two writers of one ModelDeployment's rollout status against the recording API server; no update is lost.

Given the operator in the middle of a canary and a second writer (a by-hand rollback through the same
API), when the rollback is committed while the operator is carrying out its own decision, then the
operator's next write is refused (409 on the resourceVersion it read), it reads the status again and
decides again from it: the rollback stands, with the operator's decision before it in the history.
"""

from __future__ import annotations

from dataclasses import replace

from apiserver import FakeApiServer
from interleaving import Interleaved
from operator_fakes import ISVC, MD, Clock, Metrics, Registry, manifest, reconciler, run

from kubeloop.controller.loop import Controller, Ports
from kubeloop.k8s.api import KubeApi
from kubeloop.k8s.config import ClusterConfig
from kubeloop.k8s.reconcile import ClusterController, deployment_from_object
from kubeloop.k8s.status_store import StatusStateStore
from kubeloop.routing.factory import cluster_backend


def by_hand_rollback(kube: KubeApi, registry: Registry, clock: Clock, apiserver: FakeApiServer) -> None:
    """A second writer with its own store and router, as `kubeloop rollout rollback` on a cluster would be."""
    deployment = deployment_from_object(apiserver.objects[MD])
    backend = cluster_backend(deployment, api=kube, config=ClusterConfig())
    ports = Ports(
        router=backend.router,
        servers=backend.servers,
        registry=registry,
        metrics=Metrics(0.01),
        store=StatusStateStore(api=kube, namespace="models"),
        clock=clock,
    )
    Controller(ports).rollback("iris", reason="rolled back while the operator advanced")


def test_a_rollback_committed_while_the_operator_advances_is_kept(
    apiserver: FakeApiServer, kube: KubeApi, clock: Clock
) -> None:
    apiserver.put_object(MD, manifest())
    registry = Registry()
    operator = reconciler(kube, registry, clock)
    assert run(apiserver, operator, clock, 1) == ["canary"]
    other = lambda: by_hand_rollback(kube, registry, clock, apiserver)  # noqa: E731
    operator.loop = lambda ports: ClusterController(replace(ports, router=Interleaved(ports.router, other)))

    conflicts_before = apiserver.conflicts
    outcome = operator.reconcile(namespace="models", name="iris")

    status = apiserver.objects[MD]["status"]
    rollout = status["rollout"]
    assert outcome == "rolled-back" and status["phase"] == "rolled-back"
    assert [entry["kind"] for entry in rollout["history"]] == ["advance", "rollback"]
    assert "while the operator advanced" in status["lastDecision"]["reason"]
    assert apiserver.conflicts > conflicts_before, "the operator's stale write was refused"
    predictor = apiserver.objects[ISVC]["spec"]["predictor"]
    assert predictor["labels"]["kubeloop.io/version"] == "3" and predictor["canaryTrafficPercent"] == 0
    assert registry.tags[-1]["kubeloop.rollout.outcome"] == "rolled-back"
    assert registry.aliases["champion"] == "3"


def test_without_a_second_writer_nothing_conflicts(
    apiserver: FakeApiServer, kube: KubeApi, clock: Clock
) -> None:
    apiserver.put_object(MD, manifest())
    assert run(apiserver, reconciler(kube, Registry(), clock), clock, 4) == [
        "canary",
        "canary",
        "canary",
        "promoted",
    ]
    assert apiserver.conflicts == 0
