"""What a platform team provides before `helm install`, derived from the rendered chart: the Secrets its
pods name but it does not create (production's existingSecret values), a statically provisioned
PersistentVolume for every claim (the test cluster has no storage provisioner), and the namespaces
outside the release's that it writes into (operator.watchNamespace)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Any

from rendering import pod_specs

Manifest = dict[str, Any]


def _secret_refs(spec: Manifest) -> dict[str, set[str]]:
    """Secret name -> keys named, from one pod spec's volumes and environment."""
    refs: dict[str, set[str]] = defaultdict(set)
    for volume in spec.get("volumes", []):
        secret = volume.get("secret")
        if secret:
            refs[secret["secretName"]].update(item["key"] for item in secret.get("items", []))
    for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                refs[ref["name"]].add(ref["key"])
    return refs


def missing_secrets(objects: list[Manifest], *, namespace: str) -> list[Manifest]:
    """A Secret, with a placeholder per key, for every Secret the pods name and the chart does not render."""
    rendered = {o["metadata"]["name"] for o in objects if o["kind"] == "Secret"}
    wanted: dict[str, set[str]] = defaultdict(set)
    for obj in objects:
        for spec in pod_specs(obj):
            for name, keys in _secret_refs(spec).items():
                wanted[name].update(keys)
    return [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
             "stringData": {key: f"provided-by-the-platform-team-{key}" for key in sorted(keys) or ["value"]}}
            for name, keys in sorted(wanted.items()) if name not in rendered]


def claims(objects: list[Manifest], *, namespace: str) -> list[Manifest]:
    """Every PersistentVolumeClaim the release will have: rendered ones and those of StatefulSets."""
    found = [o for o in objects if o["kind"] == "PersistentVolumeClaim"]
    for sts in (o for o in objects if o["kind"] == "StatefulSet"):
        for template in sts["spec"].get("volumeClaimTemplates", []):
            for ordinal in range(sts["spec"].get("replicas", 1)):
                name = f"{template['metadata']['name']}-{sts['metadata']['name']}-{ordinal}"
                found.append({**template, "metadata": {"name": name, "namespace": namespace}})
    return found


def volumes_for_claims(objects: list[Manifest], *, namespace: str) -> list[Manifest]:
    """One PersistentVolume pre-bound to each claim (claimRef), of its size, access modes and class."""
    volumes = []
    for claim in claims(objects, namespace=namespace):
        spec = claim["spec"]
        # Unique per claim and short: PersistentVolumes are cluster-wide, claim names are per namespace.
        digest = hashlib.sha256(f"{namespace}/{claim['metadata']['name']}".encode()).hexdigest()[:10]
        name = f"{claim['metadata']['name'][:40].rstrip('-')}-{digest}"
        volumes.append({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
                        "spec": {"capacity": {"storage": spec["resources"]["requests"]["storage"]},
                                 "accessModes": spec["accessModes"],
                                 "storageClassName": spec.get("storageClassName", ""),
                                 "persistentVolumeReclaimPolicy": "Retain",
                                 "claimRef": {"namespace": namespace, "name": claim["metadata"]["name"]},
                                 "hostPath": {"path": f"/var/lib/kubeloop-test/{name}"}}})
    return volumes


def foreign_namespaces(objects: list[Manifest], *, namespace: str) -> list[str]:
    """Namespaces other than the release's that rendered objects live in."""
    return sorted({o["metadata"].get("namespace") or namespace for o in objects} - {namespace})
