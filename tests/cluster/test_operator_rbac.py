"""Least privilege of the operator, proved against the real API server: each rule of the chart's
ClusterRole is needed.

For every rule, the chart's RBAC for router.type=kserve is applied with that one rule removed and the
operator is run with its ServiceAccount's token on a plain ModelDeployment (create, then delete). The
API server's audit log shows the request the missing rule would have allowed refused with 403, the
very check `test_operator_kserve` makes on a full run with the whole ClusterRole (no 403 at all); where
the refusal reaches our reconciler, the operator stays up and logs the verb and the resource it lacked.
A test beside them pins the list of rules, so a rule added to the chart needs a case here.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from audit import forbidden
from models_registry import Models
from operator_env import (
    KSERVE_NAMESPACE,
    OperatorRelease,
    Operators,
    apply,
    chart_rbac,
    deployment_manifest,
    forget_deployments,
    wait_until,
)
from prometheus_harness import LocalPrometheus

from kubeloop.devtools.cluster import ControlPlane

pytestmark = pytest.mark.cluster
REFUSAL_TIMEOUT = 60.0

# The ClusterRole's rules by their first resource -> (the refused request that shows it missing, and
# when our reconciler meets the refusal, what the operator, staying up, logs that it may not do).
RULES = {
    "customresourcedefinitions": ("list customresourcedefinitions.apiextensions.k8s.io", None),
    "clusterkopfpeerings": ("list clusterkopfpeerings.kopf.dev", None),
    "modeldeployments": ("list modeldeployments.kubeloop.io", None),
    # Creating an owned object with blockOwnerDeletion is refused first (admission), then the status.
    "modeldeployments/status": ("update modeldeployments/status.kubeloop.io",
                                "update modeldeployments/finalizers.kubeloop.io"),
    "inferenceservices": ("get inferenceservices.serving.kserve.io",
                          "get inferenceservices.serving.kserve.io"),
    "cronjobs": ("get cronjobs.batch", "get cronjobs.batch"),
    # Events are posted for problems: this case's model has no champion (Ready False, NoChampion).
    "events": ("create events", None),
}


def _without(objects: list[dict[str, Any]], resource: str) -> list[dict[str, Any]]:
    """The RBAC objects with the ClusterRole's rule starting with `resource` removed."""
    def cut(obj: dict[str, Any]) -> dict[str, Any]:
        if obj["kind"] != "ClusterRole":
            return obj
        return {**obj, "rules": [rule for rule in obj["rules"] if rule["resources"][0] != resource]}
    return [cut(obj) for obj in objects]


def test_every_rule_of_the_cluster_role_has_a_case() -> None:
    (role,) = [o for o in chart_rbac(namespace="any", router="kserve") if o["kind"] == "ClusterRole"]
    assert [rule["resources"][0] for rule in role["rules"]] == list(RULES)


@pytest.mark.parametrize("resource", list(RULES))
def test_without_one_rule_the_operator_is_refused_at_its_step(
        resource: str, kserve_installed: ControlPlane, namespace: str, models: Models,
        prometheus: LocalPrometheus, tmp_path: Path) -> None:
    plane = kserve_installed
    full = chart_rbac(namespace=namespace, router="kserve")
    release = OperatorRelease(plane=plane, namespace=namespace, objects=full)
    release.apply(_without(full, resource))
    operators = Operators(release=release, folder=tmp_path, tracking_uri=models.settings.tracking_uri,
                          prometheus_url=prometheus.url)
    model = f"iris-{namespace[-6:]}"
    if resource != "events":
        models.versions(model, 1)
    expected, logged = RULES[resource]
    started = time.time()
    try:
        with operators.run(f"rbac-{resource.replace('/', '-')}") as operator:
            apply(plane, deployment_manifest(name="iris", namespace=namespace, model=model, router="kserve"))

            def refused_now() -> list[str]:
                seen = forbidden(plane, user=release.user, since=started)
                return [r for r in seen if r.startswith(expected)]
            refused = wait_until(refused_now, what=f"{expected} refused", timeout=REFUSAL_TIMEOUT)
            if logged is not None:
                wait_until(lambda: f"forbidden: may not {logged} " in operator.log(), what=f"{logged} logged")
                assert operator.alive(), operator.log()
            operator.kill()  # a refused kopf would retry its goodbye to the peering for many seconds
    finally:
        forget_deployments(plane, namespace=namespace)
        release.delete()
    assert refused[0] in (f"{expected} in {namespace}", f"{expected} in (cluster)"), refused


def test_the_kserve_role_is_a_single_named_config_map(kserve_installed: ControlPlane, namespace: str) -> None:
    """The operator's one right in KServe's namespace: reading inferenceservice-config, nothing else."""
    objects = chart_rbac(namespace=namespace, router="kserve")
    release = OperatorRelease(plane=kserve_installed, namespace=namespace, objects=objects)
    release.apply()
    try:
        as_operator = ["--as", release.user, "-n", KSERVE_NAMESPACE]
        allowed = kserve_installed.kubectl("auth", "can-i", "get", "configmap/inferenceservice-config",
                                           *as_operator, check=False).stdout.strip()
        other = kserve_installed.kubectl("auth", "can-i", "get", "configmap/other", *as_operator,
                                         check=False).stdout.strip()
        secrets = kserve_installed.kubectl("auth", "can-i", "list", "secrets", "--as", release.user,
                                           "-A", check=False).stdout.strip()
    finally:
        release.delete()
    assert (allowed, other, secrets) == ("yes", "no", "no")
