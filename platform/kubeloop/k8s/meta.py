"""Names, labels and owner references shared by every object the operator creates for a ModelDeployment."""

from __future__ import annotations

from typing import Any

from kubeloop.errors import SpecError
from kubeloop.spec import API_VERSION, KIND, ModelDeployment

LABEL_DEPLOYMENT = "kubeloop.io/deployment"
LABEL_MODEL = "kubeloop.io/model"
LABEL_VERSION = "kubeloop.io/version"
LABEL_ROLE = "kubeloop.io/role"
MANAGED_BY = "kubeloop-operator"


def check_dns_label(name: str, *, what: str) -> str:
    """Refuse names Kubernetes would refuse (63 characters at most), saying which object it was."""
    if len(name) > 63:
        raise SpecError(
            f"{what} name {name!r} is {len(name)} characters; Kubernetes allows 63 (shorten metadata.name)"
        )
    return name


def version_isvc_name(deployment: ModelDeployment, version: str) -> str:
    """The InferenceService serving one model version when a mesh splits traffic: <name>-v<version>."""
    # "-predictor" is appended by KServe for the Service, so that must fit in 63 characters too.
    name = f"{deployment.name}-v{version}"
    check_dns_label(f"{name}-predictor", what="predictor Service")
    return name


def predictor_host(*, isvc: str, namespace: str) -> str:
    """The cluster-local host of an InferenceService's predictor (RawDeployment mode, port 80)."""
    return f"{isvc}-predictor.{namespace}.svc.cluster.local"


def labels(
    deployment: ModelDeployment, *, version: str | None = None, role: str | None = None
) -> dict[str, str]:
    """Labels on every object: part-of, managed-by, deployment and model; version and role where known."""
    out = {
        "app.kubernetes.io/part-of": "kubeloop",
        "app.kubernetes.io/managed-by": MANAGED_BY,
        LABEL_DEPLOYMENT: deployment.name,
        LABEL_MODEL: deployment.spec.model.name,
    }
    if version is not None:
        out[LABEL_VERSION] = version
    if role is not None:
        out[LABEL_ROLE] = role
    return out


def object_meta(
    deployment: ModelDeployment, *, name: str, owner_uid: str | None = None, **label_args: Any
) -> dict[str, Any]:
    """metadata for a created object; with the owner's uid, Kubernetes deletes it with the ModelDeployment."""
    meta: dict[str, Any] = {
        "name": check_dns_label(name, what="object"),
        "namespace": deployment.metadata.namespace,
        "labels": labels(deployment, **label_args),
    }
    if owner_uid:
        meta["ownerReferences"] = [
            {
                "apiVersion": API_VERSION,
                "kind": KIND,
                "name": deployment.name,
                "uid": owner_uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    return meta


def version_of_predictor(deployment: ModelDeployment, service: str) -> str | None:
    """The model version behind `<name>-v<version>-predictor[.<namespace>...]`, or None for other services."""
    short = service.split(".", 1)[0]
    prefix, suffix = f"{deployment.name}-v", "-predictor"
    if short.startswith(prefix) and short.endswith(suffix) and len(short) > len(prefix) + len(suffix):
        return short[len(prefix) : -len(suffix)]
    return None
