"""Model-server metrics for the operator's rollout checks, served by the test itself.

kwok pods run no containers, so no model server runs here. In their place this module serves, for
every model version a deployment routes to, the metrics a model server would (`ServerMetrics`, the
servers' own class) on a loopback endpoint that a real Prometheus scrapes. A thread sends simulated
requests by the routes the real objects carry (read back through the deployment's router from the API
server: the InferenceService, VirtualService or HTTPRoute), so what Prometheus sees follows what the
operator wrote; each version answers as the test says it behaves (an error share, a latency).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server

from kubeloop.k8s.api import KubeApi
from kubeloop.k8s.config import ClusterConfig
from kubeloop.routing.base import Routes
from kubeloop.routing.factory import cluster_backend
from kubeloop.serving.core.metrics import ServerMetrics
from kubeloop.spec import ModelDeployment

REQUESTS_PER_TICK = 8
TICK_SECONDS = 0.1


@dataclass(frozen=True)
class Behaviour:
    """How a model version answers: the share of requests it fails (500) and its typical latency."""

    error_share: float = 0.0
    latency_s: float = 0.02


GOOD = Behaviour()
BROKEN = Behaviour(error_share=0.5)


class VersionServer:
    """The /metrics endpoint of one model version's (simulated) server."""

    def __init__(self, *, deployment: str, model: str, version: str) -> None:
        self.registry = CollectorRegistry()
        self.metrics = ServerMetrics(deployment=deployment, model=model, version=version,
                                     registry=self.registry)
        self.server, _thread = start_http_server(0, addr="127.0.0.1", registry=self.registry)

    @property
    def address(self) -> str:
        """host:port for Prometheus."""
        return f"127.0.0.1:{self.server.server_port}"

    def answer(self, *, role: str, behaves: Behaviour, rng: random.Random) -> None:
        """Count one request as the server would."""
        status = 500 if rng.random() < behaves.error_share else 200
        seconds = behaves.latency_s * rng.uniform(0.5, 1.5)
        self.metrics.observe(role=role, status=status, seconds=seconds, predictions=["setosa"],
                             classifier=True)

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


class Traffic:
    """Simulated requests to the deployments it follows, by the routes their objects carry."""

    def __init__(self, *, api: KubeApi, set_targets: Callable[[dict[str, list[str]]], None]) -> None:
        self.api, self.set_targets = api, set_targets
        self.servers: dict[tuple[str, str], VersionServer] = {}
        self.behaviour: dict[tuple[str, str], Behaviour] = {}
        self.followed: dict[str, ModelDeployment] = {}
        self.seen: dict[str, list[Routes]] = {}  # every distinct route set read, in order
        self.error: Exception | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="simulated-traffic", daemon=True)
        self._rng = random.Random(7)

    def follow(self, deployment: ModelDeployment, **versions: Behaviour) -> None:
        """Send requests to `deployment` by its routes; `versions` maps "v<N>" to how version N behaves."""
        with self._lock:
            self.followed[deployment.name] = deployment
            for key, behaves in versions.items():
                self.behaviour[(deployment.name, key.removeprefix("v"))] = behaves

    def unfollow(self, name: str) -> None:
        """Stop sending requests to a deployment (its servers' metrics stay until the session ends)."""
        with self._lock:
            self.followed.pop(name, None)

    def _server(self, deployment: ModelDeployment, version: str) -> VersionServer:
        key = (deployment.name, version)
        if key not in self.servers:
            self.servers[key] = VersionServer(deployment=deployment.name, model=deployment.spec.model.name,
                                              version=version)
            self.set_targets({"model-server": [s.address for s in self.servers.values()]})
        return self.servers[key]

    def _send(self, deployment: ModelDeployment, routes: Routes) -> None:
        for _ in range(REQUESTS_PER_TICK):
            canary = routes.canary is not None and self._rng.random() * 100 < routes.canary_weight
            version = routes.canary if canary and routes.canary else routes.stable
            self._answer(deployment, version, role="challenger" if canary else "champion")
            if routes.shadow is not None and self._rng.random() * 100 < routes.shadow_percent:
                self._answer(deployment, routes.shadow, role="shadow")

    def _answer(self, deployment: ModelDeployment, version: str, *, role: str) -> None:
        behaves = self.behaviour.get((deployment.name, version), GOOD)
        self._server(deployment, version).answer(role=role, behaves=behaves, rng=self._rng)

    def _routes(self, deployment: ModelDeployment) -> Routes | None:
        return cluster_backend(deployment, api=self.api, config=ClusterConfig()).router.get_routes()

    def _run(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            try:
                with self._lock:
                    for name, deployment in self.followed.items():
                        routes = self._routes(deployment)
                        if routes is None:
                            continue
                        history = self.seen.setdefault(name, [])
                        if not history or history[-1] != routes:
                            history.append(routes)
                        self._send(deployment, routes)
            except Exception as error:  # noqa: BLE001 - kept for the test to report
                self.error = error
                return

    def start(self) -> None:
        """Start sending."""
        self._thread.start()

    def close(self) -> None:
        """Stop sending and serving."""
        self._stop.set()
        self._thread.join(timeout=10)
        for server in self.servers.values():
            server.close()


@contextmanager
def simulated_traffic(*, api: KubeApi,
                      set_targets: Callable[[dict[str, list[str]]], None]) -> Iterator[Traffic]:
    """A running Traffic, closed on exit; raises what stopped its thread, if anything did."""
    traffic = Traffic(api=api, set_targets=set_targets)
    traffic.start()
    try:
        yield traffic
    finally:
        traffic.close()
    if traffic.error is not None:
        raise traffic.error


def mark_ready(api: Any, *, namespace: str, name: str) -> None:
    """Set an InferenceService's Ready condition, as KServe's controller does once its pods answer."""
    from kubernetes.client import CustomObjectsApi

    body = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    CustomObjectsApi(api).patch_namespaced_custom_object_status(
        "serving.kserve.io", "v1beta1", namespace, "inferenceservices", name, body)
