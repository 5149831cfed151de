"""A 403 from the API server becomes Forbidden naming what the operator's role lacks."""

from __future__ import annotations

import json

from kubernetes.client.exceptions import ApiException

from kubeloop.k8s.api import Forbidden, Ref, _translate

ISVC = Ref(group="serving.kserve.io", version="v1beta1", plural="inferenceservices", namespace="models",
           name="iris")


def _refused(message: str) -> ApiException:
    error = ApiException(status=403, reason="Forbidden")
    error.body = json.dumps({"kind": "Status", "code": 403, "reason": "Forbidden", "message": message})
    return error


def test_a_refused_request_names_its_verb_and_resource() -> None:
    found = _translate(_refused('inferenceservices "iris" is forbidden'), ISVC, verb="get")
    assert isinstance(found, Forbidden) and (found.verb, found.resource) == (
        "get", "inferenceservices.serving.kserve.io")


def test_a_refused_owner_reference_names_the_owners_finalizers() -> None:
    """OwnerReferencesPermissionEnforcement refuses a create whose blockOwnerDeletion the creator may not
    set; its message names neither the verb nor the resource, so the create's owner reference does."""
    body = {"metadata": {"name": "iris", "ownerReferences": [
        {"apiVersion": "kubeloop.io/v1alpha1", "kind": "ModelDeployment", "name": "iris",
         "blockOwnerDeletion": True}]}}
    message = ("cannot set blockOwnerDeletion if an ownerReference refers to a resource you can't set "
               "finalizers on: , <nil>")
    found = _translate(_refused(message), ISVC, verb="create", body=body)
    named = "modeldeployments/finalizers.kubeloop.io"
    assert str(found) == (f"forbidden: may not update {named} in namespace models; "
                          f"add the verb 'update' on {named} to the operator's ClusterRole (or Role)")
