"""Secure by default, in every scenario: non-root, read-only root, no capabilities, no escalation, seccomp,
requests and limits, tokens only where needed, least-privilege RBAC, network policies, no secret values,
and object names that fit Kubernetes' 63-character limit."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from rendering import SCENARIOS, pod_specs, render

pytestmark = pytest.mark.k8s

Objects = dict[str, list[dict[str, Any]]]


def _workloads(objects: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(obj, spec) for obj in objects for spec in pod_specs(obj)]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_container_is_locked_down(rendered: Objects, scenario: str) -> None:
    for obj, spec in _workloads(rendered[scenario]):
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", where
        for container in spec["containers"] + spec.get("initContainers", []):
            ctx = container["securityContext"]
            assert ctx["readOnlyRootFilesystem"] is True, where
            assert ctx["allowPrivilegeEscalation"] is False, where
            assert ctx["capabilities"]["drop"] == ["ALL"], where
            assert "add" not in ctx["capabilities"], where
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][bound]), f"{where} {bound}"
            assert not container["image"].endswith(":latest"), where


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_only_the_operator_gets_an_api_token(rendered: Objects, scenario: str) -> None:
    for obj, spec in _workloads(rendered[scenario]):
        wants_token = obj["metadata"]["labels"]["app.kubernetes.io/component"] == "operator"
        assert spec["automountServiceAccountToken"] is wants_token, obj["metadata"]["name"]


def _rules(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [rule for o in objects if o["kind"] in ("Role", "ClusterRole") for rule in o["rules"]]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_rbac_is_least_privilege(rendered: Objects, scenario: str) -> None:
    for rule in _rules(rendered[scenario]):
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field], rule
        assert not {"secrets", "pods", "pods/exec", "serviceaccounts/token"} & set(rule["resources"]), rule
        assert not {"bind", "escalate", "impersonate"} & set(rule["verbs"]), rule


@pytest.mark.parametrize(
    ("scenario", "granted", "absent"),
    [
        ("default", set(), {"virtualservices", "httproutes"}),
        ("istio", {"virtualservices", "destinationrules"}, {"httproutes"}),
        ("gateway-api", {"httproutes"}, {"virtualservices"}),
    ],
)
def test_router_permissions_follow_the_router(
    rendered: Objects, scenario: str, granted: set[str], absent: set[str]
) -> None:
    resources = {r for rule in _rules(rendered[scenario]) for r in rule["resources"]}
    assert {"modeldeployments", "modeldeployments/status", "inferenceservices"} <= resources
    assert ({"cronjobs"} if scenario != "gateway-api" else {"cronworkflows"}) <= resources
    assert granted <= resources
    assert not absent & resources


def test_watched_namespaces_get_roles_not_cluster_rights(rendered: Objects) -> None:
    objects = rendered["production"]
    roles = [o for o in objects if o["kind"] == "Role"]
    assert [r["metadata"]["namespace"] for r in roles] == ["ml-prod"]
    (cluster_role,) = [o for o in objects if o["kind"] == "ClusterRole" and _component(o) == "operator"]
    cluster_resources = {r for rule in cluster_role["rules"] for r in rule["resources"]}
    assert cluster_resources == {"customresourcedefinitions"}
    assert all(rule["verbs"] == ["list", "watch"] for rule in cluster_role["rules"])
    (role,) = roles
    assert {"kopfpeerings", "modeldeployments"} <= {r for rule in role["rules"] for r in rule["resources"]}


def _component(obj: dict[str, Any]) -> str:
    return str((obj["metadata"].get("labels") or {}).get("app.kubernetes.io/component", ""))


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_the_rollout_role_grants_get_and_patch_on_modeldeployments_only(
    rendered: Objects, scenario: str
) -> None:
    """What `kubeloop k8s rollout promote|rollback|status` needs, for people: read the object, patch its
    command annotation; included in the built-in edit role."""
    (role,) = [o for o in rendered[scenario] if _component(o) == "rollout"]
    assert role["kind"] == "ClusterRole"
    assert role["rules"] == [{"apiGroups": ["kubeloop.io"], "resources": ["modeldeployments"],
                              "verbs": ["get", "patch"]}]
    assert role["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"


def test_the_rollout_role_can_be_left_out_or_kept_out_of_edit() -> None:
    def role(*values: str) -> list[dict[str, Any]]:
        return [o for o in render(*values) if _component(o) == "rollout"]

    assert role("--set", "rolloutRole.create=false") == []
    (unaggregated,) = role("--set", "rolloutRole.aggregateToEdit=false")
    assert not [k for k in unaggregated["metadata"]["labels"] if k.startswith("rbac.authorization.k8s.io/")]


def test_kserve_config_is_readable_by_name_only(rendered: Objects) -> None:
    """With router.type=kserve the operator reads one ConfigMap in KServe's namespace, nothing else."""
    (role,) = [o for o in rendered["minimal"] if o["kind"] == "Role"]
    assert role["metadata"]["namespace"] == "kserve"
    assert role["rules"] == [{"apiGroups": [""], "resources": ["configmaps"],
                              "resourceNames": ["inferenceservice-config"], "verbs": ["get"]}]


def test_no_secret_values_with_external_references(rendered: Objects) -> None:
    """Production references existing Secrets only; defaults generate random ones, never from values."""
    assert not [o for o in rendered["production"] if o["kind"] == "Secret"]
    generated = [o for o in rendered["default"] if o["kind"] == "Secret"]
    assert {o["metadata"]["name"].rsplit("-", 1)[-1] for o in generated} == {"token", "postgresql"}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_network_policies_cover_every_pod(rendered: Objects, scenario: str) -> None:
    objects = rendered[scenario]
    selectors = [o["spec"]["podSelector"]["matchLabels"] for o in objects if o["kind"] == "NetworkPolicy"]
    for obj in objects:
        if not pod_specs(obj):
            continue
        pod = obj if obj["kind"] == "Pod" else obj["spec"]["template"]
        labels = pod["metadata"]["labels"]
        assert any(sel.items() <= labels.items() for sel in selectors), obj["metadata"]["name"]


def test_gateway_has_a_disruption_budget_only_with_the_gateway_router(rendered: Objects) -> None:
    assert [o for o in rendered["default"] if o["kind"] == "PodDisruptionBudget"]
    assert not [o for o in rendered["istio"] if o["kind"] in ("PodDisruptionBudget", "Deployment")
                and "gateway" in o["metadata"]["name"]]


def test_names_fit_63_characters_and_stay_distinct() -> None:
    """A 53-character release name (helm's maximum) still gives valid, distinct names for every object."""
    objects = render(release="a-very-long-release-name-for-testing-truncation-12345")
    names = [(o["kind"], o["metadata"]["name"]) for o in objects]
    dns_kinds = {"Service", "Deployment", "StatefulSet", "Pod", "ConfigMap", "Secret", "ServiceAccount"}
    assert all(len(name) <= 63 for kind, name in names if kind in dns_kinds), names
    assert not [key for key, count in Counter(names).items() if count > 1]
    for obj in objects:
        assert all(len(v) <= 63 for v in obj["metadata"].get("labels", {}).values()), obj["metadata"]["name"]
