"""By-hand promote and rollback of a rollout in a cluster, and its status: the Python API under
`kubeloop k8s rollout promote|rollback|status`.

A command is one merge patch of the ModelDeployment's command annotation (`kubeloop.k8s.commands`) with a
fresh id; the operator carries it out on its next reconcile and answers in `status.lastCommand`, which
waiting follows by reading the object again. A person therefore needs only `get` and `patch` on
modeldeployments (the chart's rollout ClusterRole). Every failure is one line: no such ModelDeployment,
the API out of reach, a verb RBAC refused (and who grants it), no answer in time.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

import urllib3
from kubernetes.client import ApiClient, Configuration

from kubeloop.errors import BackendUnavailable, KubeloopError, NotFoundError
from kubeloop.k8s.api import Forbidden, KubeApi, Ref
from kubeloop.k8s.commands import COMMAND_ANNOTATION, DONE, answer_to, command_patch, new_command_id
from kubeloop.k8s.credentials import load_credentials
from kubeloop.k8s.rollout_view import RolloutView, rollout_view
from kubeloop.k8s.status_store import deployment_ref

REQUEST_TIMEOUT = 15.0  # seconds each API request may take to connect and to answer
WAIT_TIMEOUT = 120.0  # the operator reconciles every 10 s by default: a command is answered well within
POLL_SECONDS = 0.5
ROLLOUT_ROLE = "a Role or ClusterRole bound to you (the chart's ClusterRole <release>-kubeloop-rollout-*)"


class CommandTimeout(KubeloopError):
    """The operator did not answer within the timeout; the command stays given and runs when it does."""


@dataclass(frozen=True, kw_only=True)
class Cluster:
    """The API with the caller's credentials, and the namespace commands default to."""

    api: KubeApi
    namespace: str


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """A command given to a ModelDeployment and, when waited for, the operator's answer."""

    deployment: str
    namespace: str
    id: str
    action: str
    result: str | None  # Done or Refused; None when not waited for
    message: str

    @property
    def done(self) -> bool:
        """Whether the operator carried it out."""
        return self.result == DONE


def connect(*, request_timeout: float = REQUEST_TIMEOUT) -> Cluster:
    """The cluster of the pod's ServiceAccount, else of the kubeconfig's current context."""
    configuration = Configuration()
    namespace = load_credentials(configuration)
    api = KubeApi(ApiClient(configuration), request_timeout=request_timeout)
    return Cluster(api=api, namespace=namespace)


class Options(TypedDict, total=False):
    """How a command is given (`give`'s keyword arguments besides the action)."""

    namespace: str | None  # None: the credentials' default namespace
    reason: str  # empty: the operator's "promoted by hand" / "rolled back by hand"
    wait: bool
    timeout: float
    cluster: Cluster | None  # None: connect()


def promote(name: str, **options: Unpack[Options]) -> Outcome:
    """Skip the remaining steps of NAME's rollout: the challenger takes every request and becomes champion."""
    return give(name, action="promote", **options)


def rollback(name: str, **options: Unpack[Options]) -> Outcome:
    """Send every request of NAME back to its champion at once; the reason is recorded on the version."""
    return give(name, action="rollback", **options)


def give(
    name: str,
    *,
    action: str,
    namespace: str | None = None,
    reason: str = "",
    wait: bool = True,
    timeout: float = WAIT_TIMEOUT,
    cluster: Cluster | None = None,
    poll: float = POLL_SECONDS,
) -> Outcome:
    """Write the command into the annotation; with `wait`, return the operator's answer to it."""
    cluster = cluster or connect()
    ref = deployment_ref(namespace=namespace or cluster.namespace, name=name)
    command_id = new_command_id(now=time.time(), entropy=secrets.token_hex(3))
    with plain_failures(cluster):
        require(cluster.api, ref)
        cluster.api.patch(ref, command_patch(command_id=command_id, action=action, reason=reason))
        found: dict[str, Any] = {}
        if wait:
            found = await_answer(cluster.api, ref, command_id=command_id, timeout=timeout, poll=poll)
    return Outcome(deployment=name, namespace=ref.namespace, id=command_id, action=action,
                   result=found.get("result"), message=str(found.get("message", "")))


def await_answer(
    api: KubeApi, ref: Ref, *, command_id: str, timeout: float, poll: float = POLL_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """`status.lastCommand` once it answers `command_id`; CommandTimeout naming what it waited for."""
    deadline = clock() + timeout
    while True:
        obj = api.get(ref)
        if obj is None:
            raise NotFoundError(f"ModelDeployment {ref.name!r} in namespace {ref.namespace!r} was deleted "
                                f"before the operator answered command {command_id}")
        found = answer_to(obj, command_id)
        if found is not None:
            return found
        if clock() >= deadline:
            raise CommandTimeout(
                f"no answer to command {command_id} in status.lastCommand of ModelDeployment {ref.name!r} "
                f"in namespace {ref.namespace!r} after {timeout:g}s: is the operator running? The command "
                f"stays in the {COMMAND_ANNOTATION} annotation until it is answered or replaced"
            )
        time.sleep(poll)


def rollout_status(name: str, *, namespace: str | None = None, cluster: Cluster | None = None) -> RolloutView:
    """NAME's rollout as its status tells: phase, weights, champion and challenger, last command."""
    cluster = cluster or connect()
    ref = deployment_ref(namespace=namespace or cluster.namespace, name=name)
    with plain_failures(cluster):
        return rollout_view(require(cluster.api, ref))


def require(api: KubeApi, ref: Ref) -> dict[str, Any]:
    """The ModelDeployment, or NotFoundError naming it and its namespace."""
    obj = api.get(ref)
    if obj is None:
        raise NotFoundError(f"no ModelDeployment {ref.name!r} in namespace {ref.namespace!r}")
    return obj


@contextmanager
def plain_failures(cluster: Cluster) -> Iterator[None]:
    """API failures as one line for a person: a refused verb says who grants it, the API out of reach
    names its address."""
    try:
        yield
    except Forbidden as refused:
        raise Forbidden(verb=refused.verb, resource=refused.resource, namespace=refused.namespace,
                        grant=ROLLOUT_ROLE) from None
    except urllib3.exceptions.HTTPError as error:
        host = cluster.api.client.configuration.host
        raise BackendUnavailable(f"cannot reach the Kubernetes API at {host}: {_why(error)}") from None


def _why(error: urllib3.exceptions.HTTPError) -> str:
    """The cause of a failed request without urllib3's pool and connection reprs."""
    text = str(getattr(error, "reason", None) or error)
    head, found, tail = text.partition("): ")
    return tail if found and head.startswith("HTTP") else text
