"""The thin layer that talks to the Kubernetes API: get, create, merge-patch, delete, and safe updates.

Everything else in Kubernetes mode is pure and hands this layer whole objects. Updates that must not
lose a concurrent write (status, routes) go read -> change -> write with the resourceVersion read,
and on 409 Conflict start again from a fresh read.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from kubernetes.client import ApiClient, BatchV1Api, CoreV1Api, CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from kubeloop.errors import BackendUnavailable, KubeloopError, NotFoundError

CONFLICT_ATTEMPTS = 5
OPERATOR_ROLE = "the operator's ClusterRole (or Role)"  # who a refusal tells to grant the missing verb
Mutate = Callable[[dict[str, Any]], dict[str, Any] | None]


class Gone(NotFoundError):
    """The object was deleted while we worked on it; reconciliation ends without error."""


class Conflict(KubeloopError):
    """The object changed since the resourceVersion the write carried (409): read it again."""


class MissingCrd(BackendUnavailable):
    """The cluster does not know the kind: its CRD (KServe, Istio, Gateway API, Argo) is not installed."""


class Forbidden(KubeloopError):
    """RBAC refused a request (403): the message names the verb, the resource and the namespace."""

    def __init__(self, *, verb: str, resource: str, namespace: str, grant: str = OPERATOR_ROLE) -> None:
        self.verb, self.resource, self.namespace = verb, resource, namespace
        super().__init__(
            f"forbidden: may not {verb} {resource} in namespace {namespace}; "
            f"add the verb {verb!r} on {resource} to {grant}"
        )


@dataclass(frozen=True, kw_only=True)
class Ref:
    """Where a namespaced object lives in the API."""

    group: str
    version: str
    plural: str
    namespace: str
    name: str

    @classmethod
    def of(cls, obj: dict[str, Any], *, plural: str) -> Ref:
        """The reference of a whole object (apiVersion, metadata.name, metadata.namespace)."""
        group, _, version = obj["apiVersion"].rpartition("/")
        meta = obj["metadata"]
        return cls(
            group=group, version=version, plural=plural, namespace=meta["namespace"], name=meta["name"]
        )


# Kinds the operator creates, and their plural resource names.
PLURALS = {
    "InferenceService": "inferenceservices",
    "VirtualService": "virtualservices",
    "DestinationRule": "destinationrules",
    "HTTPRoute": "httproutes",
    "CronWorkflow": "cronworkflows",
    "CronJob": "cronjobs",
    "ModelDeployment": "modeldeployments",  # the owner of all the above
}


class KubeApi:
    """Namespaced objects through the official client; custom resources and batch/v1 CronJobs."""

    def __init__(self, api_client: ApiClient | None = None, *, request_timeout: float | None = None) -> None:
        self.client = api_client or ApiClient()
        # Bounds connecting and reading on every call (the client wants a pair: it ignores a bare float).
        self._timeout = {"_request_timeout": (request_timeout, request_timeout)} if request_timeout else {}
        self.custom = CustomObjectsApi(self.client)
        self.batch = BatchV1Api(self.client)
        self.core = CoreV1Api(self.client)

    def get(self, ref: Ref) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            if ref.group == "batch":
                return _object(
                    self.client.sanitize_for_serialization(
                        self.batch.read_namespaced_cron_job(ref.name, ref.namespace, **self._timeout)
                    )
                )
            return _object(
                self.custom.get_namespaced_custom_object(
                    ref.group, ref.version, ref.namespace, ref.plural, ref.name, **self._timeout
                )
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise _translate(error, ref, verb="get") from None

    def create(self, ref: Ref, body: dict[str, Any]) -> dict[str, Any]:
        """Create the object."""
        try:
            if ref.group == "batch":
                return _object(
                    self.client.sanitize_for_serialization(
                        self.batch.create_namespaced_cron_job(ref.namespace, body, **self._timeout)
                    )
                )
            return _object(
                self.custom.create_namespaced_custom_object(
                    ref.group, ref.version, ref.namespace, ref.plural, body, **self._timeout
                )
            )
        except ApiException as error:
            if error.status == 404:  # creating in a collection that does not exist: the kind is unknown
                raise MissingCrd(
                    f"the cluster has no {ref.plural}.{ref.group}/{ref.version}; "
                    f"install its CRD (is {ref.group.split('.')[-2]} installed?)"
                ) from None
            raise _translate(error, ref, verb="create", body=body) from None

    def patch(self, ref: Ref, body: dict[str, Any]) -> dict[str, Any]:
        """Merge-patch the object (RFC 7386: maps merge, lists are replaced, null deletes)."""
        try:
            if ref.group == "batch":
                return _object(
                    self.client.sanitize_for_serialization(
                        self.batch.patch_namespaced_cron_job(ref.name, ref.namespace, body, **self._timeout)
                    )
                )
            return _object(
                self.custom.patch_namespaced_custom_object(
                    ref.group, ref.version, ref.namespace, ref.plural, ref.name, body, **self._timeout
                )
            )
        except ApiException as error:
            if error.status == 404:
                raise Gone(f"{ref.plural}/{ref.name} in {ref.namespace} was deleted") from None
            raise _translate(error, ref, verb="patch") from None

    def delete(self, ref: Ref) -> bool:
        """Delete the object; False when it was already gone."""
        try:
            if ref.group == "batch":
                self.batch.delete_namespaced_cron_job(ref.name, ref.namespace, **self._timeout)
            else:
                self.custom.delete_namespaced_custom_object(
                    ref.group, ref.version, ref.namespace, ref.plural, ref.name, **self._timeout
                )
            return True
        except ApiException as error:
            if error.status == 404:
                return False
            raise _translate(error, ref, verb="delete") from None

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create the object, or merge-patch labels, annotations and spec when the live one differs."""
        ref = Ref.of(obj, plural=PLURALS[obj["kind"]])
        live = self.get(ref)
        if live is None:
            return self.create(ref, drop_nulls(obj))
        keys = ("labels", "annotations", "ownerReferences")
        body = {
            "metadata": {k: obj["metadata"][k] for k in keys if k in obj["metadata"]},
            "spec": obj["spec"],
        }
        if contains(live, body):
            return live
        return self.patch(ref, body)

    def list(self, ref: Ref, *, selector: str) -> list[dict[str, Any]]:
        """Objects of `ref`'s kind in its namespace matching a label selector (`ref.name` is ignored)."""
        try:
            if ref.group == "batch":
                found = self.batch.list_namespaced_cron_job(
                    ref.namespace, label_selector=selector, **self._timeout
                )
                return cast(list[dict[str, Any]], self.client.sanitize_for_serialization(found)["items"])
            listed = self.custom.list_namespaced_custom_object(
                ref.group, ref.version, ref.namespace, ref.plural, label_selector=selector, **self._timeout
            )
            return cast(list[dict[str, Any]], listed["items"])
        except ApiException as error:
            if error.status == 404:
                return []
            raise _translate(error, ref, verb="list") from None

    def read_config_map(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A ConfigMap another system publishes its settings in, or None when it is absent or not readable."""
        try:
            found = self.core.read_namespaced_config_map(name, namespace, **self._timeout)
        except ApiException as error:
            if error.status in (403, 404):
                return None
            where = Ref(group="", version="v1", plural="configmaps", namespace=namespace, name=name)
            raise _translate(error, where, verb="get") from None
        return _object(self.client.sanitize_for_serialization(found))

    def update(self, ref: Ref, mutate: Mutate, *, status: bool = False) -> dict[str, Any] | None:
        """Read, change with `mutate` (None: nothing to do), write with the version read; retry on 409."""
        for _ in range(CONFLICT_ATTEMPTS):
            current = self.get(ref)
            if current is None:
                raise Gone(f"{ref.plural}/{ref.name} in {ref.namespace} was deleted")
            desired = mutate(copy.deepcopy(current))
            if desired is None:
                return current
            desired["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            try:
                return self.replace(ref, desired, status=status)
            except Conflict:
                continue
        raise BackendUnavailable(f"{ref.plural}/{ref.name}: conflicting after {CONFLICT_ATTEMPTS} tries")

    def replace(self, ref: Ref, body: dict[str, Any], *, status: bool = False) -> dict[str, Any]:
        """Write the whole object (or its status) if its resourceVersion is still the one in `body`."""
        args = (ref.group, ref.version, ref.namespace, ref.plural, ref.name, body)
        try:
            if status:
                return _object(self.custom.replace_namespaced_custom_object_status(*args, **self._timeout))
            return _object(self.custom.replace_namespaced_custom_object(*args, **self._timeout))
        except ApiException as error:
            if error.status == 409:
                raise Conflict(
                    f"{ref.plural}/{ref.name} in {ref.namespace} changed since it was read"
                ) from None
            if error.status == 404:
                raise Gone(f"{ref.plural}/{ref.name} in {ref.namespace} was deleted") from None
            raise _translate(error, ref, verb="update", subresource="status" if status else "") from None


def _object(found: Any) -> dict[str, Any]:
    """What the client returned, as the JSON object it is (its methods are untyped)."""
    return cast(dict[str, Any], found)


def drop_nulls(value: Any) -> Any:
    """The object without null fields (nulls only mean "delete" in a merge patch)."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def contains(live: Any, desired: Any) -> bool:
    """True when every field of `desired` is in `live` with the same value (server-added fields are fine)."""
    if isinstance(desired, dict):
        # A null in a merge patch deletes the field, so it is "contained" when the field is absent.
        return isinstance(live, dict) and all(
            live.get(k) is None if v is None else k in live and contains(live[k], v)
            for k, v in desired.items()
        )
    if isinstance(desired, list):
        return isinstance(live, list) and len(live) == len(desired) and all(map(contains, live, desired))
    return bool(live == desired)


def _owner_finalizers(
    error: ApiException, body: dict[str, Any] | None, *, namespace: str
) -> Forbidden | None:
    """The OwnerReferencesPermissionEnforcement refusal: setting blockOwnerDeletion needs `update` on the
    owner's finalizers, which the server's message does not name; the body's owner reference does."""
    if body is None or "blockOwnerDeletion" not in str(error.body):
        return None
    owners = [o for o in body.get("metadata", {}).get("ownerReferences", []) if o.get("blockOwnerDeletion")]
    if not owners or owners[0].get("kind") not in PLURALS:
        return None
    group = str(owners[0].get("apiVersion", "")).rpartition("/")[0]
    resource = f"{PLURALS[owners[0]['kind']]}/finalizers" + (f".{group}" if group else "")
    return Forbidden(verb="update", resource=resource, namespace=namespace)


def _translate(
    error: ApiException, ref: Ref, *, verb: str, subresource: str = "", body: dict[str, Any] | None = None
) -> Exception:
    """A 403 as Forbidden naming what was refused; any other failure as BackendUnavailable."""
    if error.status == 403:
        owner = _owner_finalizers(error, body, namespace=ref.namespace)
        if owner is not None:
            return owner
        resource = f"{ref.plural}/{subresource}" if subresource else ref.plural
        named = f"{resource}.{ref.group}" if ref.group else resource
        return Forbidden(verb=verb, resource=named, namespace=ref.namespace)
    reason = error.reason or ""
    return BackendUnavailable(
        f"Kubernetes API: {error.status} {reason} on {ref.plural}/{ref.name} in {ref.namespace}"
    )
