"""The operator as a process under the chart's RBAC and its ServiceAccount's own token, against the real
API server, driving a whole rollout on KServe's InferenceServices with metrics from a real Prometheus.

Given the chart's RBAC for router.type=kserve, two replicas (kopf peering: one active, one standing by)
and a ModelDeployment whose champion is in a real MLflow registry, when a challenger alias appears, the
active replica runs the shadow and the first canary step; it is then killed (SIGKILL) and a restarted
operator resumes at that step and promotes. A broken challenger that follows is rolled back by its
failing error-rate check. Deleting the ModelDeployment removes what it created. No request was ever
refused (the API server's audit log), the standby never acted, and no step was decided twice.

kwok runs no containers: the model servers' metrics are served by the test (traffic.py) following the
routes the operator wrote, and Prometheus scrapes those.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from audit import WRITES, forbidden, requests
from models_registry import Models
from operator_env import (
    Operators,
    apply,
    conditions,
    deployment_manifest,
    exists,
    forget_deployments,
    get,
    operator_release,
    rollout_at,
    status_of,
    wait_until,
)
from prometheus_harness import LocalPrometheus
from traffic import BROKEN, Traffic
from watching import recording

from kubeloop.devtools.cluster import ControlPlane
from kubeloop.k8s.reconcile import deployment_from_object
from kubeloop.registry.names import CHALLENGER, CHAMPION

pytestmark = pytest.mark.cluster
ROLLOUT_TIMEOUT = 120.0


def _predictor(isvc: dict[str, Any]) -> tuple[str, int | None]:
    """(the predictor's model version, its canaryTrafficPercent) of an InferenceService."""
    predictor = isvc["spec"]["predictor"]
    return predictor["labels"]["kubeloop.io/version"], predictor.get("canaryTrafficPercent")


def test_a_rollout_on_kserve_survives_a_crash_and_peering_never_acts_twice(
        kserve_installed: ControlPlane, namespace: str, models: Models, traffic: Traffic,
        prometheus: LocalPrometheus, tmp_path: Path) -> None:
    plane = kserve_installed
    release = operator_release(plane, namespace=namespace, router="kserve")
    operators = Operators(release=release, folder=tmp_path, tracking_uri=models.settings.tracking_uri,
                          prometheus_url=prometheus.url)
    model = f"iris-{namespace[-6:]}"
    champion, challenger, broken = models.versions(model, 3)
    manifest = deployment_manifest(name="iris", namespace=namespace, model=model, router="kserve")
    traffic.follow(deployment_from_object(manifest), **{f"v{broken}": BROKEN})
    started = time.time()
    try:
        with ExitStack() as stack, plane.api_client() as client, recording(
                client, group="serving.kserve.io", version="v1beta1", plural="inferenceservices",
                namespace=namespace, summary=_predictor) as isvcs:
            with operators.run("op-a") as first:
                first.wait_active()
                standby = stack.enter_context(operators.run("op-b", priority=1))
                standby.wait_standby(plane)
                apply(plane, manifest)
                wait_until(lambda: conditions(status_of(plane, namespace=namespace, name="iris"))
                           .get("Ready", {}).get("status") == "True", what="Ready")
                md = get(plane, "modeldeployment", "iris", namespace=namespace)
                assert md["metadata"]["finalizers"] == ["kopf.zalando.org/KopfFinalizerMarker"]
                isvc = get(plane, "inferenceservice", "iris", namespace=namespace)
                assert _predictor(isvc) == (champion, None)
                assert exists(plane, "cronjob", "iris-drift", namespace=namespace)

                models.registry.set_alias(name=model, alias=CHALLENGER, version=challenger)
                wait_until(rollout_at(plane, namespace, "shadow"), what="shadow")
                assert exists(plane, "inferenceservice", "iris-shadow", namespace=namespace)
                wait_until(rollout_at(plane, namespace, "canary", 25), what="canary at 25%",
                           timeout=ROLLOUT_TIMEOUT)
                assert standby.metric("kubeloop_operator_reconcile_total") == 0
                first.kill()
                killed_at = time.time()
                with operators.run("op-c") as restarted:
                    restarted.wait_active()
                    wait_until(rollout_at(plane, namespace, "promoted"), what="promotion",
                               timeout=ROLLOUT_TIMEOUT)
                    assert standby.alive() and standby.metric("kubeloop_operator_reconcile_total") == 0
                    status = status_of(plane, namespace=namespace, name="iris")
                    decided = [(e["kind"], e["phase"], e["weight"]) for e in status["rollout"]["history"]]
                    assert models.registry.version_for_alias(model, CHAMPION).version == challenger

                    models.registry.set_alias(name=model, alias=CHALLENGER, version=broken)
                    wait_until(rollout_at(plane, namespace, "rolled-back"),
                               what="the broken challenger rolled back", timeout=ROLLOUT_TIMEOUT)
                    rolled_back = status_of(plane, namespace=namespace, name="iris")
                    wait_until(lambda: not exists(plane, "inferenceservice", "iris-shadow",
                                                  namespace=namespace), what="the broken shadow retired")

                    plane.kubectl("delete", "modeldeployment", "iris", "-n", namespace, "--timeout=60s")
                    assert not exists(plane, "inferenceservice", "iris", namespace=namespace)
                    assert not exists(plane, "cronjob", "iris-drift", namespace=namespace)
                    logs = first.log() + standby.log() + restarted.log()
    finally:
        traffic.unfollow("iris")
        forget_deployments(plane, namespace=namespace)
        release.delete()

    # The crash cost nothing: each step was decided once, in order, then promoted (an analysis that
    # found too few samples yet holds, which moves nothing).
    moved = [entry for entry in decided if entry[0] != "hold"]
    steps = [("advance", "canary", 25), ("advance", "canary", 50), ("promote", "promoted", 100)]
    assert moved == steps, decided
    # The InferenceService went through each state once: champion, challenger at 25% then 50%, promoted.
    assert isvcs.versions["iris"][:4] == [(champion, None), (challenger, 25), (challenger, 50),
                                          (challenger, 100)], isvcs.versions["iris"]
    assert isvcs.versions["iris"][4] == (challenger, None)
    assert rolled_back["challenger"] == broken and "error-rate" in rolled_back["lastDecision"]["reason"]
    assert models.registry.get_version(model, broken).tags["kubeloop.rollout.outcome"] == "rolled-back"
    assert models.registry.version_for_alias(model, CHAMPION).version == challenger

    seen = requests(plane, user=release.user, since=started)
    writes = [r for r in seen if r.verb in WRITES]
    assert not [r for r in writes if "(op-b)" in r.agent], "the standby replica wrote"
    assert not [r for r in writes if "(op-a)" in r.agent and r.at > killed_at]
    status_writes = {r.what for r in writes if r.resource.startswith("modeldeployments")}
    assert status_writes == {"update modeldeployments/status.kubeloop.io",
                             "patch modeldeployments.kubeloop.io"}
    assert forbidden(plane, user=release.user, since=started) == []
    assert "Forbidden" not in logs and " 403" not in logs
