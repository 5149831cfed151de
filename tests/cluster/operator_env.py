"""The operator as a platform team runs it, against the test control plane: the chart's own RBAC objects
(rendered by helm for a router type) applied as the admin, and `kubeloop operator run` as a process
acting with its ServiceAccount's own token (TokenRequest), settings in the environment as the chart's
ConfigMap sets them, endpoints on loopback and a short reconcile tick."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rendering import CHART, helm

from kubeloop.devtools.cluster import ControlPlane
from kubeloop.devtools.cluster.processes import log_tail, spawn
from kubeloop.local.processes import free_port

RELEASE = "kl"
RBAC_TEMPLATES = ("templates/operator/rbac.yaml", "templates/operator/serviceaccount.yaml",
                  "templates/operator/peering.yaml")
TICK_SECONDS = 1.0
START_TIMEOUT = 90.0
# Where this session's KServe stand-in keeps its inferenceservice-config ConfigMap: not the chart's
# default `kserve`, which the chart's own release tests create and delete as a prerequisite.
KSERVE_NAMESPACE = "kubeloop-test-kserve"


def chart_rbac(*, namespace: str, router: str, release: str = RELEASE) -> list[dict[str, Any]]:
    """The operator's ServiceAccount, ClusterRole(s), Role(s), bindings and peering, as the chart renders
    them for `router.type=<router>`."""
    shown = [arg for template in RBAC_TEMPLATES for arg in ("--show-only", template)]
    out = helm("template", release, str(CHART), "--namespace", namespace, "--set", f"router.type={router}",
               "--set", f"router.kserve.namespace={KSERVE_NAMESPACE}", *shown).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@dataclass(frozen=True)
class OperatorRelease:
    """The chart's RBAC for one operator, applied in `namespace`; `service_account` is the operator's."""

    plane: ControlPlane
    namespace: str
    objects: list[dict[str, Any]]

    @property
    def service_account(self) -> str:
        """The operator's ServiceAccount name."""
        return next(o["metadata"]["name"] for o in self.objects if o["kind"] == "ServiceAccount")

    @property
    def user(self) -> str:
        """The user name its token authenticates as (what the audit log records)."""
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"

    def cluster_role(self) -> dict[str, Any]:
        """The rendered ClusterRole."""
        return next(o for o in self.objects if o["kind"] == "ClusterRole")

    def kubeconfig(self, folder: Path) -> Path:
        """A kubeconfig carrying a fresh TokenRequest token of the operator's ServiceAccount."""
        return self.plane.service_account_kubeconfig(namespace=self.namespace, name=self.service_account,
                                                     path=folder / f"{self.service_account}.yaml")

    def apply(self, objects: list[dict[str, Any]] | None = None) -> None:
        """Create or replace the RBAC objects and the peering object."""
        self.plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-",
                           stdin=yaml.safe_dump_all(objects or self.objects))

    def delete(self) -> None:
        """Remove the cluster-scoped objects (the peering too: a helm release must be able to own it) and
        those in other namespaces (the namespace takes the rest)."""
        for obj in self.objects:
            kind, name = obj["kind"], obj["metadata"]["name"]
            elsewhere = obj["metadata"].get("namespace") not in (None, self.namespace)
            if kind in ("ClusterRole", "ClusterRoleBinding", "ClusterKopfPeering") or elsewhere:
                args = ["-n", obj["metadata"]["namespace"]] if obj["metadata"].get("namespace") else []
                self.plane.kubectl("delete", kind, name, *args, "--ignore-not-found", "--wait=false")


def operator_release(plane: ControlPlane, *, namespace: str, router: str) -> OperatorRelease:
    """Render and apply the chart's RBAC for the router in `namespace`."""
    release = OperatorRelease(plane=plane, namespace=namespace, objects=chart_rbac(namespace=namespace,
                                                                                   router=router))
    release.apply()
    return release


@dataclass
class OperatorProcess:
    """One `kubeloop operator run` process; its log, its /metrics and its peering identity."""

    name: str
    process: Any
    log_path: Path
    metrics_url: str
    health_url: str
    env: dict[str, str] = field(repr=False)

    def log(self) -> str:
        """Everything it logged so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.is_file() else ""

    def alive(self) -> bool:
        """Whether the process still runs."""
        return bool(self.process.poll() is None)

    def wait_for_log(self, text: str, *, timeout: float = START_TIMEOUT) -> None:
        """Wait until its log contains `text`; fail with the log's tail if it exits or takes too long."""
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if not self.alive():
                raise AssertionError(f"operator {self.name} exited ({self.process.returncode}):\n"
                                     f"{log_tail(self.log_path, lines=30)}")
            if time.monotonic() > deadline:
                raise AssertionError(f"operator {self.name} never logged {text!r}:\n"
                                     f"{log_tail(self.log_path, lines=30)}")
            time.sleep(0.2)

    def wait_active(self) -> None:
        """Wait until peering lets it act (no live peer of higher priority)."""
        self.wait_for_log("Resuming operations after the pause")

    def wait_standby(self, plane: ControlPlane) -> None:
        """Wait until it keeps its entry in the peering while staying paused (a live peer outranks it:
        kopf starts paused under mandatory peering and says nothing while it stays so)."""
        def in_peering() -> bool:
            peering = json.loads(plane.kubectl("get", "clusterkopfpeering", "kubeloop", "-o", "json").stdout)
            return self.name in (peering.get("status") or {})
        wait_until(in_peering, what=f"{self.name} in the peering", timeout=START_TIMEOUT)
        time.sleep(2 * TICK_SECONDS)  # had it been free to act, it would have resumed by now
        assert "Resuming operations" not in self.log(), self.log()

    def metric(self, name: str, **labels: str) -> float:
        """The sum of a metric's samples (with these labels) on its /metrics endpoint."""
        from prometheus_client.parser import text_string_to_metric_families

        with urllib.request.urlopen(self.metrics_url, timeout=10) as answer:
            text = answer.read().decode()
        return sum(sample.value for family in text_string_to_metric_families(text)
                   for sample in family.samples
                   if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()))

    def stop(self) -> None:
        """SIGTERM, as Kubernetes stops a pod (kopf leaves the peering on the way out)."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)

    def kill(self) -> None:
        """SIGKILL: a crash; its peering entry stays until its lifetime runs out."""
        if self.alive():
            self.process.kill()
            self.process.wait(timeout=10)


def operator_env(*, kubeconfig: Path, home: Path, tracking_uri: str, prometheus_url: str,
                 name: str, priority: int) -> dict[str, str]:
    """The operator's environment: the chart's ConfigMap settings for a workstation run, and peering."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBELOOP_", "KUBECONFIG", "MLFLOW_"))}
    return {**env, "KUBECONFIG": str(kubeconfig), "KUBELOOP_HOME": str(home),
            "KUBELOOP_TRACKING_URI": tracking_uri, "KUBELOOP_K8S_TRACKING_URI": tracking_uri,
            "KUBELOOP_PROMETHEUS_URL": prometheus_url, "KUBELOOP_K8S_KSERVE_NAMESPACE": KSERVE_NAMESPACE,
            "KUBELOOP_K8S_OPERATOR_BIND_ADDRESS": "127.0.0.1",
            "KUBELOOP_K8S_OPERATOR_TICK_SECONDS": str(TICK_SECONDS),
            "KUBELOOP_K8S_OPERATOR_METRICS_PORT": str(free_port()),
            "KUBELOOP_K8S_OPERATOR_HEALTH_PORT": str(free_port()),
            "KUBELOOP_OPERATOR_PRIORITY": str(priority), "POD_ID": name, "KUBELOOP_LOG_LEVEL": "info"}


@contextmanager
def running_operator(*, env: dict[str, str], folder: Path, name: str) -> Iterator[OperatorProcess]:
    """`python -m kubeloop operator run` with `env`, stopped (SIGTERM) when the block ends."""
    log_path = folder / f"operator-{name}.log"
    process = spawn([sys.executable, "-m", "kubeloop", "operator", "run"], log=log_path, detach=False,
                    env=env)
    found = OperatorProcess(
        name=name, process=process, log_path=log_path, env=env,
        metrics_url=f"http://127.0.0.1:{env['KUBELOOP_K8S_OPERATOR_METRICS_PORT']}/metrics",
        health_url=f"http://127.0.0.1:{env['KUBELOOP_K8S_OPERATOR_HEALTH_PORT']}/healthz")
    try:
        yield found
    finally:
        found.stop()
        found.kill()


def status_of(plane: ControlPlane, *, namespace: str, name: str) -> dict[str, Any]:
    """A ModelDeployment's status as the server holds it ({} before the operator wrote one)."""
    found = plane.kubectl("get", "modeldeployment", name, "-n", namespace, "-o", "json", check=False)
    if found.returncode != 0:
        return {}
    status: dict[str, Any] = json.loads(found.stdout).get("status") or {}
    return status


def conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The status's conditions by type."""
    return {c["type"]: c for c in status.get("conditions", [])}


def wait_until(predicate: Any, *, what: str, timeout: float = 60.0, poll: float = 0.3) -> Any:
    """Poll until `predicate()` is truthy and return it; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(poll)


def rollout_at(plane: ControlPlane, namespace: str, phase: str, weight: int | None = None) -> Any:
    """A check that the rollout reached `phase` (at `weight`) and carried out every action it planned."""
    def reached() -> bool:
        status = status_of(plane, namespace=namespace, name="iris")
        done = not (status.get("rollout") or {}).get("pending")
        at_weight = weight is None or status.get("canaryWeight") == weight
        return done and status.get("phase") == phase and at_weight
    return reached


def deployment_manifest(*, name: str, namespace: str, model: str, router: str,
                        shadow: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ModelDeployment with a rollout short enough for a test: a 3 s shadow at 50%, canary steps of
    3 s at 25% and 50%, the error-rate and latency checks on at least 10 requests, one failure to roll
    back, the old champion kept warm for 30 s after promotion."""
    return {
        "apiVersion": "kubeloop.io/v1alpha1", "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "model": {"name": model, "alias": "champion"},
            "serving": {"runtime": "kserve"},
            "router": router,
            "rollout": {
                "shadow": shadow or {"percent": 50, "duration": "3s", "minSamples": 10},
                "canary": {"steps": [25, 50], "interval": "3s"},
                "checks": [
                    {"name": "error-rate", "kind": "error-rate", "threshold": 0.05, "minSamples": 10},
                    {"name": "latency-p99", "kind": "latency-p99-ratio", "threshold": 3.0, "minSamples": 10},
                ],
                "failureLimit": 1,
                "keepPreviousWarm": "30s",
            },
        },
    }


PRIORITIES = iter(range(100, 1_000_000, 100))  # each operator started outranks every earlier one


@dataclass(frozen=True)
class Operators:
    """Starts operators of one release with the session's registry and Prometheus."""

    release: OperatorRelease
    folder: Path
    tracking_uri: str
    prometheus_url: str

    def env(self, name: str, priority: int) -> dict[str, str]:
        """The environment of one replica (a fresh token each time)."""
        return operator_env(kubeconfig=self.release.kubeconfig(self.folder),
                            home=self.folder / f"home-{name}", tracking_uri=self.tracking_uri,
                            prometheus_url=self.prometheus_url, name=name, priority=priority)

    @contextmanager
    def run(self, name: str, *, priority: int | None = None) -> Iterator[OperatorProcess]:
        """One replica, outranking every operator started before unless `priority` says otherwise."""
        chosen = next(PRIORITIES) if priority is None else priority
        with running_operator(env=self.env(name, chosen), folder=self.folder, name=name) as process:
            yield process


def apply(plane: ControlPlane, obj: dict[str, Any]) -> None:
    """Create or update an object as the admin (server-side apply)."""
    plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", stdin=yaml.safe_dump(obj))


def exists(plane: ControlPlane, kind: str, name: str, *, namespace: str) -> bool:
    """Whether the server holds the object."""
    found = plane.kubectl("get", kind, name, "-n", namespace, "--ignore-not-found", "-o", "name").stdout
    return bool(found.strip())


def get(plane: ControlPlane, kind: str, name: str, *, namespace: str) -> dict[str, Any]:
    """One object as the server holds it."""
    found: dict[str, Any] = json.loads(plane.kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout)
    return found


def forget_deployments(plane: ControlPlane, *, namespace: str) -> None:
    """Remove the ModelDeployments left in a namespace with no operator to finalize them (finalizers
    dropped as the admin), so no later operator finds them."""
    names = plane.kubectl("get", "modeldeployments", "-n", namespace, "-o", "name").stdout.split()
    for name in names:
        plane.kubectl("patch", name, "-n", namespace, "--type=merge",
                      "-p", '{"metadata":{"finalizers":null}}')
        plane.kubectl("delete", name, "-n", namespace, "--wait=false", "--ignore-not-found")
