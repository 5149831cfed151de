"""`kubeloop k8s rollout promote|rollback|status` as people run it against the real API server, with the
real operator (the chart's RBAC, its ServiceAccount's token) carrying the commands out.

Given a ModelDeployment on KServe whose shadow phase lasts ten minutes and a person bound, in its
namespace, only to the chart's rollout ClusterRole: a promote before any rollout is refused (exit 3); once
a challenger is in shadow, promote exits 0 and the status, the registry's champion alias and the
InferenceService all name the challenger; a next challenger is rolled back the same way (its shadow
InferenceService goes, the version is tagged with the reason); an unknown deployment is one line and exit
1. That person's requests were gets and patches of modeldeployments, none refused. Without the operator:
someone with the built-in edit role may give a command (the role is aggregated into it), someone who may
only read is refused the patch, someone with no role the get, each in one line naming verb and resource.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from audit import requests
from models_registry import Models
from operator_env import (
    RELEASE,
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
from rendering import CHART, helm

from kubeloop.devtools.cluster import ControlPlane
from kubeloop.k8s.commands import COMMAND_ANNOTATION
from kubeloop.registry.names import CHALLENGER, CHAMPION, TAG_ROLLOUT_OUTCOME, TAG_ROLLOUT_REASON

pytestmark = pytest.mark.cluster
MD = "modeldeployments.kubeloop.io"
# Held in shadow until a command moves it: the test, not the analysis, decides.
LONG_SHADOW = {"percent": 50, "duration": "10m", "minSamples": 10}


def rollout_role(*, namespace: str) -> dict[str, Any]:
    """The chart's rollout ClusterRole as helm renders it for a release in `namespace`."""
    out = helm("template", RELEASE, str(CHART), "--namespace", namespace,
               "--show-only", "templates/rollout-rbac.yaml").stdout
    (role,) = [doc for doc in yaml.safe_load_all(out) if doc]
    return role


def person(plane: ControlPlane, *, namespace: str, name: str, role: dict[str, str] | None,
           folder: Path) -> tuple[str, Path]:
    """A ServiceAccount standing for a person, bound in `namespace` to `role` (kind and name) unless None;
    its user name and a kubeconfig with its token."""
    apply(plane, {"apiVersion": "v1", "kind": "ServiceAccount",
                  "metadata": {"name": name, "namespace": namespace}})
    if role is not None:
        apply(plane, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                      "metadata": {"name": name, "namespace": namespace},
                      "roleRef": {"apiGroup": "rbac.authorization.k8s.io", **role},
                      "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]})
    kubeconfig = plane.service_account_kubeconfig(namespace=namespace, name=name,
                                                  path=folder / f"{name}.yaml")
    return f"system:serviceaccount:{namespace}:{name}", kubeconfig


def kubeloop(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI run as a person does, with that person's kubeconfig."""
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    return subprocess.run([sys.executable, "-m", "kubeloop", *args], capture_output=True, text=True, env=env,
                          timeout=300, check=False)


def status_json(kubeconfig: Path, namespace: str) -> dict[str, Any]:
    """`kubeloop k8s rollout status iris --json`."""
    shown = kubeloop(kubeconfig, "k8s", "rollout", "status", "iris", "-n", namespace, "--json")
    assert shown.returncode == 0, shown.stderr
    found: dict[str, Any] = json.loads(shown.stdout)
    return found


def _predictor(plane: ControlPlane, namespace: str) -> tuple[str, int | None]:
    """(the model version the InferenceService serves, its canaryTrafficPercent)."""
    predictor = get(plane, "inferenceservice", "iris", namespace=namespace)["spec"]["predictor"]
    return predictor["labels"]["kubeloop.io/version"], predictor.get("canaryTrafficPercent")


def test_a_person_with_the_rollout_role_promotes_and_rolls_back_through_the_operator(
        kserve_installed: ControlPlane, namespace: str, models: Models, prometheus: LocalPrometheus,
        tmp_path: Path) -> None:
    plane = kserve_installed
    release = operator_release(plane, namespace=namespace, router="kserve")
    operators = Operators(release=release, folder=tmp_path, tracking_uri=models.settings.tracking_uri,
                          prometheus_url=prometheus.url)
    role = rollout_role(namespace=namespace)
    apply(plane, role)
    user, kubeconfig = person(plane, namespace=namespace, name="ana", folder=tmp_path,
                              role={"kind": "ClusterRole", "name": role["metadata"]["name"]})
    model = f"iris-{namespace[-6:]}"
    champion, challenger, next_one = models.versions(model, 3)
    manifest = deployment_manifest(name="iris", namespace=namespace, model=model, router="kserve",
                                   shadow=LONG_SHADOW)
    rollout = ["k8s", "rollout"]
    started = time.time()
    try:
        with operators.run("op-commands") as operator:
            operator.wait_active()
            apply(plane, manifest)
            wait_until(lambda: conditions(status_of(plane, namespace=namespace, name="iris"))
                       .get("Ready", {}).get("status") == "True", what="Ready")
            early = kubeloop(kubeconfig, *rollout, "promote", "iris", "-n", namespace)

            models.registry.set_alias(name=model, alias=CHALLENGER, version=challenger)
            wait_until(rollout_at(plane, namespace, "shadow"), what="shadow")
            promoted = kubeloop(kubeconfig, *rollout, "promote", "iris", "-n", namespace,
                                "--reason", "looks good")
            after_promotion = status_json(kubeconfig, namespace)
            wait_until(lambda: _predictor(plane, namespace) == (challenger, None),
                       what="the InferenceService serving the challenger alone")

            models.registry.set_alias(name=model, alias=CHALLENGER, version=next_one)
            in_shadow = rollout_at(plane, namespace, "shadow")
            wait_until(lambda: in_shadow() and status_of(plane, namespace=namespace, name="iris")
                       .get("challenger") == next_one, what="the next challenger in shadow")
            assert exists(plane, "inferenceservice", "iris-shadow", namespace=namespace)
            rolled_back = kubeloop(kubeconfig, *rollout, "rollback", "iris", "-n", namespace,
                                   "--reason", "latency looks off")
            after_rollback = status_json(kubeconfig, namespace)
            wait_until(lambda: not exists(plane, "inferenceservice", "iris-shadow", namespace=namespace),
                       what="the rolled-back shadow retired")
            serving = _predictor(plane, namespace)
            unknown = kubeloop(kubeconfig, *rollout, "promote", "nosuch", "-n", namespace)
    finally:
        forget_deployments(plane, namespace=namespace)
        release.delete()
        plane.kubectl("delete", "clusterrole", role["metadata"]["name"], "--ignore-not-found")

    assert early.returncode == 3, early.stderr
    assert f"promote of 'iris' in {namespace}: Refused: there is no rollout to act on" in early.stderr

    assert promoted.returncode == 0, promoted.stderr
    assert f"promote of 'iris' in {namespace}: Done: looks good" in promoted.stderr, promoted.stderr
    assert (after_promotion["phase"], after_promotion["champion"], after_promotion["previous"]) == (
        "promoted", challenger, champion)
    assert after_promotion["weights"] == {challenger: 100}
    assert after_promotion["lastCommand"]["result"] == "Done" and after_promotion["pendingCommand"] is None
    assert models.registry.version_for_alias(model, CHAMPION).version == challenger

    assert rolled_back.returncode == 0, rolled_back.stderr
    assert f"rollback of 'iris' in {namespace}: Done: latency looks off" in rolled_back.stderr
    assert (after_rollback["phase"], after_rollback["champion"], after_rollback["challenger"]) == (
        "rolled-back", challenger, next_one)
    assert serving == (challenger, None)
    tags = models.registry.get_version(model, next_one).tags
    assert (tags[TAG_ROLLOUT_OUTCOME], tags[TAG_ROLLOUT_REASON]) == ("rolled-back", "latency looks off")
    assert models.registry.version_for_alias(model, CHAMPION).version == challenger

    assert unknown.returncode == 1
    assert unknown.stderr.strip() == f"error: no ModelDeployment 'nosuch' in namespace '{namespace}'"

    asked = requests(plane, user=user, since=started)
    assert {r.what for r in asked} == {f"get {MD}", f"patch {MD}"}
    assert [r.what for r in asked if r.code == 403] == []


def test_edit_may_give_a_command_a_reader_may_not_and_a_stranger_may_not_look(
        installed_crds: ControlPlane, namespace: str, tmp_path: Path) -> None:
    plane = installed_crds
    role = rollout_role(namespace=namespace)
    apply(plane, role)
    manifest = deployment_manifest(name="iris", namespace=namespace, model="iris", router="kserve")
    apply(plane, manifest)
    reader_role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                   "metadata": {"name": "reader", "namespace": namespace},
                   "rules": [{"apiGroups": ["kubeloop.io"], "resources": ["modeldeployments"],
                              "verbs": ["get"]}]}
    apply(plane, reader_role)
    editor, as_editor = person(plane, namespace=namespace, name="eve", folder=tmp_path,
                               role={"kind": "ClusterRole", "name": "edit"})
    _, as_reader = person(plane, namespace=namespace, name="rob", role={"kind": "Role", "name": "reader"},
                          folder=tmp_path)
    _, as_stranger = person(plane, namespace=namespace, name="sam", role=None, folder=tmp_path)
    try:
        # The controller manager aggregates the rollout role into edit a moment after it appears.
        wait_until(lambda: plane.kubectl("auth", "can-i", "patch", MD, "--as", editor, "-n", namespace,
                                         check=False).stdout.strip() == "yes",
                   what="edit aggregating the rollout role")
        given = kubeloop(as_editor, "k8s", "rollout", "rollback", "iris", "-n", namespace, "--no-wait")
        annotation = get(plane, "modeldeployment", "iris", namespace=namespace)["metadata"]["annotations"]
        refused = kubeloop(as_reader, "k8s", "rollout", "promote", "iris", "-n", namespace)
        looked = kubeloop(as_reader, "k8s", "rollout", "status", "iris", "-n", namespace)
        stranger = kubeloop(as_stranger, "k8s", "rollout", "status", "iris", "-n", namespace)
    finally:
        forget_deployments(plane, namespace=namespace)
        plane.kubectl("delete", "clusterrole", role["metadata"]["name"], "--ignore-not-found")

    assert given.returncode == 0, given.stderr
    command = json.loads(annotation[COMMAND_ANNOTATION])
    assert command["action"] == "rollback"
    assert f"rollback command {command['id']} given to 'iris'" in given.stderr, given.stderr
    assert refused.returncode == 1
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith(f"error: forbidden: may not patch {MD} in namespace {namespace}; add the verb "
                           f"'patch' on {MD} to a Role or ClusterRole bound to you"), line
    assert looked.returncode == 0 and f"iris in {namespace}: stable" in looked.stdout, looked.stderr
    assert stranger.returncode == 1
    assert stranger.stderr.strip().startswith(f"error: forbidden: may not get {MD} in namespace {namespace};")
