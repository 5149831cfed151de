"""The kopf operator: wires the reconciler to ModelDeployment events, a timer, a finalizer and peering.

kopf runs one handler per object at a time; peering (a ClusterKopfPeering named `kubeloop`) keeps a
single replica active, so two replicas never act twice. Progress and the last-handled spec live in
annotations under kubeloop.io, since the status belongs to the rollout.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable
from typing import Any
from wsgiref.simple_server import WSGIServer

import kopf
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from kubeloop.errors import KubeloopError
from kubeloop.k8s.api import PLURALS, KubeApi, Ref
from kubeloop.k8s.crd import GROUP, PLURAL, VERSION
from kubeloop.k8s.meta import LABEL_DEPLOYMENT
from kubeloop.k8s.reconcile import Backends, ClusterController, Reconciler
from kubeloop.telemetry.names import RECONCILE_LAST, RECONCILE_TOTAL

PEERING_NAME = "kubeloop"
TICK_SECONDS = 10.0
# Routes go first so no request reaches a server being deleted; the drift job last.
CLEANUP_ORDER = (
    ("networking.istio.io", "v1", "VirtualService"),
    ("gateway.networking.k8s.io", "v1", "HTTPRoute"),
    ("serving.kserve.io", "v1beta1", "InferenceService"),
    ("networking.istio.io", "v1", "DestinationRule"),
    ("batch", "v1", "CronJob"),
    ("argoproj.io", "v1alpha1", "CronWorkflow"),
)
log = logging.getLogger("kubeloop.operator")


def finalize(api: KubeApi, *, namespace: str, name: str) -> int:
    """Delete every object created for the deployment, routes first; returns how many were deleted."""
    deleted = 0
    for group, version, kind in CLEANUP_ORDER:
        ref = Ref(group=group, version=version, plural=PLURALS[kind], namespace=namespace, name="")
        for obj in api.list(ref, selector=f"{LABEL_DEPLOYMENT}={name}"):
            deleted += api.delete(Ref(**{**ref.__dict__, "name": obj["metadata"]["name"]}))
    return deleted


class OperatorMetrics:
    """Reconciles by outcome and when the last one ran, in the registry the rollout metrics share."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.reconciles = Counter(
            RECONCILE_TOTAL.removesuffix("_total"),
            "Reconciles by outcome",
            ["result"],
            registry=self.registry,
        )
        self.last = Gauge(RECONCILE_LAST, "When the last reconcile finished", registry=self.registry)

    def record(self, outcome: str) -> None:
        """Count one reconcile."""
        self.reconciles.labels(outcome).inc()
        self.last.set_to_current_time()


def register(
    registry: kopf.OperatorRegistry,
    *,
    reconciler: Callable[[], Reconciler],
    metrics: OperatorMetrics | None = None,
) -> None:
    """Attach the handlers to a kopf registry; `reconciler` builds the (shared) reconciler lazily."""
    counted = metrics or OperatorMetrics()

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.peering.name = PEERING_NAME
        settings.peering.mandatory = True
        settings.peering.clusterwide = True
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="kubeloop.io")
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix="kubeloop.io", key="last-handled-configuration"
        )
        settings.posting.level = logging.WARNING

    @kopf.on.resume(GROUP, VERSION, PLURAL, registry=registry)
    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry)
    @kopf.on.update(GROUP, VERSION, PLURAL, field="spec", registry=registry)
    @kopf.timer(GROUP, VERSION, PLURAL, interval=TICK_SECONDS, initial_delay=TICK_SECONDS, registry=registry)
    def reconcile(*, namespace: str | None, name: str, **_: Any) -> str:
        try:
            outcome = reconciler().reconcile(namespace=namespace or "default", name=name)
        except Exception:
            counted.record("error")
            raise
        counted.record(outcome)
        log.info("reconciled %s/%s: %s", namespace, name, outcome)
        return outcome

    @kopf.on.delete(GROUP, VERSION, PLURAL, registry=registry)
    def cleanup(*, namespace: str | None, name: str, **_: Any) -> None:
        deleted = finalize(reconciler().api, namespace=namespace or "default", name=name)
        log.info("deleted %d objects of %s/%s", deleted, namespace, name)


def cluster_reconciler(metrics: OperatorMetrics) -> Reconciler:
    """The reconciler of a running operator, from the in-cluster (or kubeconfig) credentials and env."""
    from kubernetes import config as kube_config

    from kubeloop.k8s.config import config_from_env
    from kubeloop.metricsources.prometheus import PrometheusSource
    from kubeloop.predlog.reader import read_predictions
    from kubeloop.registry.mlflow_registry import MlflowRegistry
    from kubeloop.settings import PROMETHEUS_ENV, load_settings

    try:
        kube_config.load_incluster_config()
    except kube_config.ConfigException:
        kube_config.load_kube_config()
    settings, config = load_settings(), config_from_env()
    if not settings.prometheus_url:
        raise KubeloopError(f"the operator needs Prometheus for rollout checks: set {PROMETHEUS_ENV}")

    def predictions(deployment: str) -> Callable[..., Any]:
        return lambda version, since, until: read_predictions(
            settings, deployment, version=version, since=since, until=until
        )

    from kubeloop.controller.telemetry import RolloutMetrics
    from kubeloop.labels.store import LocalLabelStore

    labels = LocalLabelStore.from_settings(settings)  # the collector's store, on the claim it shares

    def labeled(deployment: str) -> Callable[..., Any]:
        return lambda since, until: labels.read(deployment, since, until)

    backends = Backends(
        telemetry=RolloutMetrics(metrics.registry),
        registry=MlflowRegistry(tracking_uri=config.tracking_uri),
        metrics=PrometheusSource(settings.prometheus_url),
        predictions=predictions,
        labeled=labeled,
    )
    return Reconciler(api=KubeApi(), config=config, backends=backends, loop=ClusterController)


def serve_metrics(metrics: OperatorMetrics, *, port: int, host: str = "0.0.0.0") -> WSGIServer:
    """Serve the operator's /metrics on `port` in a thread (the chart scrapes and tests the same port)."""
    server, _thread = start_http_server(port, addr=host, registry=metrics.registry)
    return server


def run(*, namespace: str | None = None, priority: int | None = None) -> None:
    """Run the operator until interrupted (the container's command: `kubeloop operator run`)."""
    from kubeloop.k8s.config import config_from_env

    config = config_from_env()
    registry = kopf.OperatorRegistry()
    metrics = OperatorMetrics()
    shared: list[Reconciler] = []

    def reconciler() -> Reconciler:
        if not shared:
            shared.append(cluster_reconciler(metrics))
        return shared[0]

    register(registry, reconciler=reconciler, metrics=metrics)
    server = serve_metrics(metrics, port=config.operator_metrics_port)
    # Distinct priorities let peering pick one active replica; equal ones would make both pause.
    chosen = (
        priority
        if priority is not None
        else int(os.environ.get("KUBELOOP_OPERATOR_PRIORITY", "0")) or (random.randint(1, 10_000))
    )
    try:
        kopf.run(
            registry=registry,
            priority=chosen,
            peering_name=PEERING_NAME,
            clusterwide=namespace is None,
            namespaces=[namespace] if namespace else (),
            liveness_endpoint=f"http://0.0.0.0:{config.operator_health_port}/healthz",
        )
    finally:
        server.shutdown()
        server.server_close()
