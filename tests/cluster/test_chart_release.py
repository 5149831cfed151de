"""The chart on a real API server with the real helm, for the defaults and every ci/ scenario: every
rendered object accepted (server-side dry-run, hooks and CRDs included), `helm install --wait` with
Deployments and StatefulSets Ready on kwok nodes, `helm upgrade` keeping the generated secrets (the
chart's `lookup` needs a real server), `helm uninstall` leaving nothing of the release behind."""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prerequisites import foreign_namespaces, missing_secrets, volumes_for_claims
from rendering import CHART, SCENARIOS, helm, values_args

from kubeloop.devtools.cluster import ControlPlane

pytestmark = pytest.mark.cluster
WAIT = "180s"
WORKLOADS = ("Deployment", "StatefulSet")
KEEP = "helm.sh/resource-policy"


class Release:
    """One helm release of the chart in its own namespace, driven like a platform team would."""

    def __init__(self, *, plane: ControlPlane, namespace: str, scenario: str, folder: Path) -> None:
        self.plane, self.namespace, self.scenario, self.folder = plane, namespace, scenario, folder
        self.name = f"kl-{scenario}"[:20]

    def helm(self, *args: str) -> str:
        """Run helm against the test cluster as its admin."""
        return helm(*args, f"--kubeconfig={self.plane.kubeconfig}", "--namespace", self.namespace).stdout

    def template(self) -> list[dict[str, Any]]:
        """What `helm template` renders for this release, CRDs and test hooks included."""
        out = self.helm("template", self.name, str(CHART), "--include-crds", *values_args(self.scenario))
        (self.folder / "rendered.yaml").write_text(out)
        return [doc for doc in yaml.safe_load_all(out) if doc]

    def apply(self, objects: list[dict[str, Any]]) -> None:
        """Create objects as the admin (server-side apply)."""
        if objects:
            stream = yaml.safe_dump_all(objects)
            self.plane.kubectl("apply", "--server-side", "-f", "-", stdin=stream)

    def upgrade(self, verb: str) -> None:
        """`helm install` or `helm upgrade` with the scenario's values, waiting until workloads are Ready."""
        self.helm(verb, self.name, str(CHART), *values_args(self.scenario), "--wait", "--timeout", WAIT)

    def manifest(self) -> list[dict[str, Any]]:
        """The objects helm recorded for the release (hooks excluded)."""
        return [doc for doc in yaml.safe_load_all(self.helm("get", "manifest", self.name)) if doc]

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        """One object as the server holds it."""
        out = self.plane.kubectl("get", kind, name, "-n", namespace or self.namespace, "-o", "json").stdout
        found: dict[str, Any] = json.loads(out)
        return found


@pytest.fixture
def release(installed_crds: ControlPlane, namespace: str, request: pytest.FixtureRequest,
            tmp_path: Path) -> Iterator[Release]:
    """A release of the parametrized scenario, with its prerequisites; its leftovers removed after."""
    chart_release = Release(plane=installed_crds, namespace=namespace, scenario=request.param,
                            folder=tmp_path)
    objects = chart_release.template()
    extra = foreign_namespaces(objects, namespace=namespace)
    chart_release.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in extra])
    chart_release.apply(missing_secrets(objects, namespace=namespace))
    volumes = volumes_for_claims(objects, namespace=namespace)
    chart_release.apply(volumes)
    yield chart_release
    helm("uninstall", chart_release.name, f"--kubeconfig={installed_crds.kubeconfig}", "-n", namespace,
         "--ignore-not-found", check=False)
    for obj in volumes:
        installed_crds.kubectl("delete", "pv", obj["metadata"]["name"], "--wait=false", check=False)
    for name in extra:
        installed_crds.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _assert_ready_on_kwok(chart_release: Release, manifest: list[dict[str, Any]]) -> None:
    """Every Deployment and StatefulSet has all its replicas Ready, on kwok's nodes."""
    workloads = [o for o in manifest if o["kind"] in WORKLOADS]
    assert workloads, "the release has no workloads"
    for obj in workloads:
        live = chart_release.get(obj["kind"], obj["metadata"]["name"], obj["metadata"].get("namespace"))
        wanted = live["spec"]["replicas"]
        assert live["status"].get("readyReplicas") == wanted, f"{obj['kind']}/{obj['metadata']['name']}"
    pods = json.loads(chart_release.plane.kubectl("get", "pods", "-n", chart_release.namespace,
                                                  "-o", "json").stdout)["items"]
    assert pods and all(p["spec"]["nodeName"].startswith("kwok-node-") for p in pods)


def _generated_secrets(chart_release: Release, manifest: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """The data of every Secret the chart itself renders (generated values), as stored."""
    return {o["metadata"]["name"]: chart_release.get("secret", o["metadata"]["name"])["data"]
            for o in manifest if o["kind"] == "Secret"}


def _kept(obj: dict[str, Any]) -> bool:
    """Whether helm keeps the object on uninstall (`helm.sh/resource-policy: keep`)."""
    return (obj["metadata"].get("annotations") or {}).get(KEEP) == "keep"


def _on_server(chart_release: Release, objects: list[dict[str, Any]]) -> list[str]:
    """Those of the objects the server holds, as kind/name."""
    by_namespace: dict[str, list[str]] = defaultdict(list)
    for obj in objects:
        group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
        kind = f"{obj['kind']}.{group}" if group else obj["kind"]
        by_namespace[obj["metadata"].get("namespace") or chart_release.namespace].append(
            f"{kind}/{obj['metadata']['name']}")
    found: list[str] = []
    for namespace, names in by_namespace.items():
        out = chart_release.plane.kubectl("get", *names, "-n", namespace, "--ignore-not-found", "-o", "name")
        found += out.stdout.split()
    return found


@pytest.mark.parametrize("release", sorted(SCENARIOS), indirect=True)
def test_every_rendered_object_passes_the_servers_dry_run(release: Release) -> None:
    rendered = release.template()
    out = release.plane.kubectl("apply", "--server-side", "--dry-run=server", "--force-conflicts",
                                "-f", str(release.folder / "rendered.yaml")).stdout
    assert len(out.splitlines()) == len(rendered), out
    assert all(line.endswith("(server dry run)") for line in out.splitlines()), out


@pytest.mark.parametrize("release", sorted(SCENARIOS), indirect=True)
def test_install_upgrade_and_uninstall_keep_secrets_and_leave_nothing(release: Release) -> None:
    release.upgrade("install")
    manifest = release.manifest()
    _assert_ready_on_kwok(release, manifest)
    before = _generated_secrets(release, manifest)
    if release.scenario == "default":  # the gateway admin token and the bundled database password
        values = [base64.b64decode(v) for data in before.values() for v in data.values()]
        assert len(before) == 2 and all(len(v) >= 32 for v in values), before
    release.upgrade("upgrade")
    assert json.loads(release.helm("status", release.name, "-o", "json"))["version"] == 2
    _assert_ready_on_kwok(release, manifest)
    assert _generated_secrets(release, manifest) == before
    release.helm("uninstall", release.name, "--wait", "--timeout", WAIT)
    assert _on_server(release, [o for o in manifest if not _kept(o)]) == []
    kept = [o for o in manifest if _kept(o)]  # the prediction logs' claim outlives the release, by design
    assert len(_on_server(release, kept)) == len(kept)


def test_a_second_cluster_wide_operator_is_refused_naming_the_value(
        installed_crds: ControlPlane, namespace: str, tmp_path: Path) -> None:
    first = Release(plane=installed_crds, namespace=namespace, scenario="minimal", folder=tmp_path)
    # KServe's ConfigMap Role goes in a namespace that exists (the release's own): rendering matters here.
    values = [*values_args("minimal"), "--set", f"router.kserve.namespace={namespace}"]
    first.helm("install", first.name, str(CHART), *values)  # no --wait
    other = f"{namespace[:50]}-b"
    installed_crds.kubectl("create", "namespace", other)
    try:
        second = helm("install", "kl-second", str(CHART), f"--kubeconfig={installed_crds.kubeconfig}",
                      "--namespace", other, check=False)
        assert second.returncode != 0
        assert (f"operator.watchNamespace: a cluster-wide kubeloop operator is already installed "
                f"(release {first.name} in namespace {namespace})") in second.stderr, second.stderr
        first.helm("upgrade", first.name, str(CHART), *values)  # its owner still upgrades
    finally:
        first.helm("uninstall", first.name)
        installed_crds.kubectl("delete", "namespace", other, "--wait=false")
