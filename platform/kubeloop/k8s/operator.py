"""The kopf operator: wires the reconciler to ModelDeployment events, a timer, a finalizer and peering.

kopf runs one handler per object at a time; peering (a ClusterKopfPeering named `kubeloop`) keeps a
single replica active, so two replicas never act twice. Progress and the last-handled spec live in
annotations under kubeloop.io, since the status belongs to the rollout. kopf logs in through the
`kubernetes` client's own configuration (in-cluster ServiceAccount token, else the kubeconfig), the
same credentials the reconciler uses. A request RBAC refuses becomes a log line, a Warning event and a
condition naming the verb and the resource; the timer tries again on its next tick.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any, cast
from wsgiref.simple_server import WSGIServer

import kopf
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from kubeloop import __version__
from kubeloop.errors import KubeloopError
from kubeloop.k8s.api import PLURALS, Forbidden, KubeApi, Ref
from kubeloop.k8s.crd import GROUP, PLURAL, VERSION
from kubeloop.k8s.meta import LABEL_DEPLOYMENT
from kubeloop.k8s.reconcile import Backends, ClusterController, Reconciler
from kubeloop.k8s.status import Condition
from kubeloop.telemetry.names import RECONCILE_LAST, RECONCILE_TOTAL

PEERING_NAME = "kubeloop"
LOG_LEVEL_ENV = "KUBELOOP_LOG_LEVEL"
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
# What each router creates besides InferenceServices: only those kinds are listed, so the operator
# needs no permission on the kinds of routers it does not run (the chart grants one router's).
ROUTER_KINDS = {"istio": ("VirtualService", "DestinationRule"), "gateway-api": ("HTTPRoute",)}
DRIFT_KINDS = {"cronjob": "CronJob", "argo": "CronWorkflow"}
log = logging.getLogger("kubeloop.operator")
Kind = tuple[str, str, str]


def owned_kinds(router: str | None, *, drift_engine: str) -> tuple[Kind, ...]:
    """The kinds the operator creates for a deployment of this router and drift engine, routes first."""
    drift = DRIFT_KINDS.get(drift_engine, "CronJob")
    wanted = {"InferenceService", drift, *ROUTER_KINDS.get(router or "", ())}
    return tuple(kind for kind in CLEANUP_ORDER if kind[2] in wanted)


def finalize(api: KubeApi, *, namespace: str, name: str, kinds: tuple[Kind, ...]) -> int:
    """Delete every object of these kinds created for the deployment, in order; returns how many."""
    deleted = 0
    for group, version, kind in kinds:
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
    tick: float = TICK_SECONDS,
) -> None:
    """Attach the handlers to a kopf registry; `reconciler` builds the (shared) reconciler lazily."""
    counted = metrics or OperatorMetrics()
    # kopf runs a timer beside the change handlers of the same object: one reconcile at a time each.
    locks: defaultdict[tuple[str, str], threading.Lock] = defaultdict(threading.Lock)
    refused: dict[tuple[str, str], str] = {}  # the last refusal posted as an event, per object

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        return kopf.login_via_client(**kwargs)

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
    @kopf.timer(GROUP, VERSION, PLURAL, interval=tick, initial_delay=tick, backoff=tick, registry=registry)
    def reconcile(*, namespace: str | None, name: str, body: kopf.Body, **_: Any) -> None:
        # Nothing is returned: kopf would store a result in the status, which the rollout owns.
        key = (namespace or "default", name)
        try:
            with locks[key]:
                outcome = reconciler().reconcile(namespace=key[0], name=name)
        except Forbidden as error:
            counted.record("forbidden")
            log.error("%s/%s: %s", namespace, name, error)
            if refused.get(key) != str(error):  # one event per refusal, not one per tick
                kopf.warn(body, reason="Forbidden", message=str(error))
                refused[key] = str(error)
            return
        except Exception:
            counted.record("error")
            raise
        refused.pop(key, None)
        counted.record(outcome)
        log.info("reconciled %s/%s: %s", namespace, name, outcome)

    @kopf.on.delete(GROUP, VERSION, PLURAL, backoff=tick, registry=registry)
    def cleanup(*, namespace: str | None, name: str, spec: kopf.Spec, **_: Any) -> None:
        shared = reconciler()
        kinds = owned_kinds(spec.get("router"), drift_engine=shared.config.drift_engine)
        with locks[(namespace or "default", name)]:
            deleted = finalize(shared.api, namespace=namespace or "default", name=name, kinds=kinds)
        locks.pop((namespace or "default", name), None)
        log.info("deleted %d objects of %s/%s", deleted, namespace, name)


def cluster_reconciler(metrics: OperatorMetrics, *, identity: str) -> Reconciler:
    """The reconciler of a running operator, from the in-cluster (or kubeconfig) credentials and env.

    Its requests carry the replica's identity in their User-Agent, so an audit log tells replicas apart.
    """
    from kubeloop.k8s.config import config_from_env
    from kubeloop.k8s.credentials import load_credentials
    from kubeloop.metricsources.prometheus import PrometheusSource
    from kubeloop.predlog.reader import read_predictions
    from kubeloop.registry.mlflow_registry import MlflowRegistry
    from kubeloop.settings import PROMETHEUS_ENV, load_settings

    load_credentials()
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
    api = KubeApi(request_timeout=config.operator_request_timeout_seconds)
    api.client.user_agent = f"kubeloop-operator/{__version__} ({identity})"
    return Reconciler(api=api, config=config, backends=backends, loop=ClusterController, report=post_warning)


def post_warning(obj: dict[str, Any], condition: Condition) -> None:
    """A condition that just turned False, as a Warning event on the object (`kubectl describe` shows it)."""
    # kopf posts from the raw object's apiVersion, kind and metadata: a dict serves as its Body here.
    kopf.warn(cast(kopf.Body, obj), reason=condition.reason, message=f"{condition.type}: {condition.message}")


def serve_metrics(metrics: OperatorMetrics, *, port: int, host: str) -> WSGIServer:
    """Serve the operator's /metrics on `port` in a thread (the chart scrapes and tests the same port)."""
    server, _thread = start_http_server(port, addr=host, registry=metrics.registry)
    return server


def replica_identity() -> str:
    """This replica's name in peering records and User-Agents: its pod's name (POD_ID), else host/pid."""
    return os.environ.get("POD_ID") or f"{socket.gethostname()}/{os.getpid()}"


def run(*, namespace: str | None = None, priority: int | None = None) -> None:
    """Run the operator until interrupted (the container's command: `kubeloop operator run`)."""
    from kubeloop.k8s.config import config_from_env

    config = config_from_env()
    level = os.environ.get(LOG_LEVEL_ENV, "info").lower()  # the chart's operator.logLevel
    kopf.configure(debug=level == "debug", quiet=level in ("warning", "error"), log_prefix=True)
    if level != "debug":  # one line per Prometheus query otherwise
        logging.getLogger("httpx").setLevel(logging.WARNING)
    registry = kopf.OperatorRegistry()
    metrics = OperatorMetrics()
    identity = replica_identity()
    shared: list[Reconciler] = []
    building = threading.Lock()  # handlers of different objects may ask for it at once

    def reconciler() -> Reconciler:
        with building:
            if not shared:
                shared.append(cluster_reconciler(metrics, identity=identity))
        return shared[0]

    register(registry, reconciler=reconciler, metrics=metrics, tick=config.operator_tick_seconds)
    host = config.operator_bind_address
    server = serve_metrics(metrics, port=config.operator_metrics_port, host=host)
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
            identity=cast(Any, identity),  # kopf's Identity is a NewType of str it does not export
            peering_name=PEERING_NAME,
            clusterwide=namespace is None,
            namespaces=[namespace] if namespace else (),
            liveness_endpoint=f"http://{host}:{config.operator_health_port}/healthz",
        )
    finally:
        server.shutdown()
        server.server_close()
