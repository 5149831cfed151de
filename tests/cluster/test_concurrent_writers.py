"""Two writers of one ModelDeployment's rollout status against the real API server: no update is lost.

The status store writes with the resourceVersion it read; the real server answers 409 to a write made
on an older read, and the controller then reads again and decides again rather than re-sending what it
computed before. Proved twice: two stores racing on one object, and the operator's reconcile (in this
process, the admin's credentials) interrupted right after its first route change by a by-hand rollback
with a store and router of its own, which it must keep.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from interleaving import Interleaved
from models_registry import Models
from operator_env import apply, deployment_manifest, get
from prometheus_harness import LocalPrometheus

from kubeloop.controller.loop import Controller, Ports
from kubeloop.devtools.cluster import ControlPlane
from kubeloop.k8s.api import KubeApi
from kubeloop.k8s.config import ClusterConfig
from kubeloop.k8s.reconcile import Backends, ClusterController, Reconciler, deployment_from_object
from kubeloop.k8s.status_store import StatusStateStore
from kubeloop.metricsources.prometheus import PrometheusSource
from kubeloop.registry.names import CHALLENGER, CHAMPION
from kubeloop.rollout.state import initial_state
from kubeloop.rollout.store import StateConflict
from kubeloop.routing.factory import cluster_backend

pytestmark = pytest.mark.cluster


def _deployment(plane: ControlPlane, namespace: str, models: Models) -> tuple[str, str, str]:
    """A ModelDeployment (router kserve) whose model has a champion and a challenger."""
    model = f"iris-{namespace[-6:]}"
    champion, challenger = models.versions(model, 2)
    models.registry.set_alias(name=model, alias=CHALLENGER, version=challenger)
    apply(plane, deployment_manifest(name="iris", namespace=namespace, model=model, router="kserve"))
    return model, champion, challenger


def test_a_write_on_an_older_read_is_refused_and_the_reread_keeps_both(
        installed_crds: ControlPlane, namespace: str, models: Models) -> None:
    model, champion, challenger = _deployment(installed_crds, namespace, models)
    with installed_crds.api_client() as client:
        api = KubeApi(client)
        first, second = (StatusStateStore(api=api, namespace=namespace) for _ in range(2))
        spec = deployment_from_object(get(installed_crds, "modeldeployment", "iris", namespace=namespace))
        state = initial_state(deployment="iris", model=model, champion=champion, challenger=challenger,
                              spec=spec.spec.rollout, now=0.0)
        later = state.model_copy(update={"step": 1, "revision": state.revision + 1})
        assert first.load("iris") is None and second.load("iris") is None  # both read the same version
        first.save(state)
        with pytest.raises(StateConflict):
            second.save(later)  # its read is older than the first writer's write
        assert second.load("iris") == state  # read again: the first writer's state is there
        second.save(later)
    stored = get(installed_crds, "modeldeployment", "iris", namespace=namespace)["status"]
    assert stored["rollout"]["step"] == 1 and stored["challenger"] == challenger


def test_a_rollback_committed_while_the_operator_starts_a_rollout_is_kept(
        installed_crds: ControlPlane, namespace: str, models: Models, prometheus: LocalPrometheus) -> None:
    plane = installed_crds
    model, champion, challenger = _deployment(plane, namespace, models)
    with plane.api_client() as client:
        api = KubeApi(client)
        backends = Backends(registry=models.registry, metrics=PrometheusSource(prometheus.url))
        config = ClusterConfig()

        def by_hand_rollback() -> None:
            """A second writer with its own store and router, as `kubeloop rollout rollback` would be."""
            deployment = deployment_from_object(get(plane, "modeldeployment", "iris", namespace=namespace))
            backend = cluster_backend(deployment, api=api, config=config)
            ports = Ports(router=backend.router, servers=backend.servers, registry=models.registry,
                          metrics=backends.metrics, store=StatusStateStore(api=api, namespace=namespace))
            Controller(ports).rollback("iris", reason="rolled back while the operator started")

        operator = Reconciler(api=api, config=config, backends=backends, loop=lambda ports: ClusterController(
            replace(ports, router=Interleaved(ports.router, by_hand_rollback))))
        outcome = operator.reconcile(namespace=namespace, name="iris")

    status = get(plane, "modeldeployment", "iris", namespace=namespace)["status"]
    assert outcome == "rolled-back" and status["phase"] == "rolled-back", status
    assert [entry["kind"] for entry in status["rollout"]["history"]][-1] == "rollback"
    assert "while the operator started" in status["lastDecision"]["reason"]
    predictor = get(plane, "inferenceservice", "iris", namespace=namespace)["spec"]["predictor"]
    assert predictor["labels"]["kubeloop.io/version"] == champion
    assert models.registry.version_for_alias(model, CHAMPION).version == champion
    assert models.registry.get_version(model, challenger).tags["kubeloop.rollout.outcome"] == "rolled-back"
