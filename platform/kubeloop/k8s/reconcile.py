"""One reconcile of a ModelDeployment: the operator's whole job, run by kopf on a timer and on every change.

The operator reads the spec, the registry's aliases and the backend, hands them to the same
controller loop as the local mode (`Controller.reconcile`, which plans with the pure
`kubeloop.rollout.reconcile.plan_reconcile`), with the state kept in the status, and writes what it
came to as conditions. The controller first converges the backend's objects on the routes in effect.
Failures users can act on become conditions, not crash loops: a spec that breaks the schema names the
field, a missing KServe/Istio/Gateway API CRD says what to install, a KServe mode that cannot split
traffic names the router that can, a request RBAC refuses names the verb and the resource (and is raised
on, for the operator to log and post as an event), and a deleted object ends reconciliation quietly.
A by-hand command in the object's annotation (`kubeloop.k8s.commands`) runs once, answered in the status.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from kubeloop.analysis.measure import LabeledReader, PredictionReader, Subject
from kubeloop.controller.actions import RolloutRegistry
from kubeloop.controller.loop import Controller, Ports, Reconciled, RolloutRefused, Seen
from kubeloop.controller.telemetry import RolloutMetrics
from kubeloop.errors import SpecError
from kubeloop.k8s.api import Forbidden, Gone, KubeApi, MissingCrd, Ref
from kubeloop.k8s.commands import DONE, REFUSED, Command, answer, pending_command
from kubeloop.k8s.config import ClusterConfig
from kubeloop.k8s.render import check_router
from kubeloop.k8s.status import BACKEND_AVAILABLE, READY, SPEC_VALID, Condition
from kubeloop.k8s.status_store import StatusStateStore, deployment_ref
from kubeloop.k8s.status_writer import Report, StatusWriter, serving_conditions, valid
from kubeloop.metricsources.base import MetricSource
from kubeloop.registry.names import CHALLENGER
from kubeloop.rollout.reconcile import Request, RolloutTarget
from kubeloop.rollout.state import RolloutState
from kubeloop.routing.base import Routes
from kubeloop.routing.factory import ClusterBackend, cluster_backend
from kubeloop.spec import ModelDeployment, parse_deployment
from kubeloop.telemetry.names import REQUEST_DURATION, REQUESTS_TOTAL


class RolloutLoop(Protocol):
    """The controller loop the operator drives (kubeloop.controller.loop.Controller)."""

    def reconcile(self, target: RolloutTarget, *, seen: Seen, request: Request | None = None) -> Reconciled:
        """Converge, follow the challenger alias (or do `request`), analyse when due, retire when due."""


class ClusterController(Controller):
    """The same controller loop; in a cluster requests are counted by the model servers, not a gateway."""

    def _subject(self, state: RolloutState) -> Subject:
        return Subject(
            deployment=state.deployment,
            champion=state.champion,
            challenger=state.challenger,
            task=self.ports.task,
            requests_metric=REQUESTS_TOTAL,
            duration_metric=REQUEST_DURATION,
            retries_metric=None,
        )


@dataclass(frozen=True, kw_only=True)
class Backends:
    """The systems a rollout reads and writes besides Kubernetes."""

    registry: RolloutRegistry
    metrics: MetricSource
    # deployment name -> its prediction-log reader (for the disagreement and prediction-shift checks)
    predictions: Callable[[str], PredictionReader] | None = None
    # deployment name -> its labeled-answers reader (for the quality check)
    labeled: Callable[[str], LabeledReader] | None = None
    clock: Callable[[], float] = time.time
    telemetry: RolloutMetrics | None = None


def deployment_from_object(obj: dict[str, Any]) -> ModelDeployment:
    """The spec of a custom resource as the shared schema reads it (server-set metadata left out)."""
    meta = obj.get("metadata", {})
    return parse_deployment(
        {
            "apiVersion": obj.get("apiVersion"),
            "kind": obj.get("kind"),
            "metadata": {
                "name": meta.get("name"),
                "namespace": meta.get("namespace", "default"),
                "labels": meta.get("labels", {}),
            },
            "spec": obj.get("spec"),
        }
    )


class Reconciler:
    """Reconciles ModelDeployments through one API client; safe to call again at any time."""

    def __init__(
        self,
        *,
        api: KubeApi,
        config: ClusterConfig,
        backends: Backends,
        loop: Callable[[Ports], RolloutLoop] = ClusterController,
        report: Report | None = None,
    ) -> None:
        self.api, self.config, self.backends, self.loop = api, config, backends, loop
        self.writer = StatusWriter(api=api, report=report)

    def reconcile(self, *, namespace: str, name: str) -> str:
        """Bring one ModelDeployment a step closer to its spec; returns the outcome (phase or condition).

        Raises Forbidden, after writing it as the Ready condition when the status may still be written.
        """
        ref = deployment_ref(namespace=namespace, name=name)
        try:
            return self._reconcile(ref)
        except Gone:
            return "gone"
        except Forbidden as error:
            refused = Condition(type=READY, status=False, reason="Forbidden", message=str(error))
            try:
                self.writer.write(ref, [refused], report=False)  # the operator reports it itself
            except (Forbidden, Gone):
                pass  # the status itself is out of reach: the operator's log and event still say why
            raise

    def _reconcile(self, ref: Ref) -> str:
        obj = self.api.get(ref)
        if obj is None:
            return "gone"
        try:
            deployment = deployment_from_object(obj)
            check_router(deployment)
        except SpecError as error:
            message = str(error).removeprefix("invalid ModelDeployment: ")
            self.writer.write(
                ref,
                [
                    Condition(type=SPEC_VALID, status=False, reason="InvalidSpec", message=message),
                    Condition(type=READY, status=False, reason="InvalidSpec", message=message),
                ],
            )
            return "invalid"
        champion = self._champion(deployment)
        if champion is None:
            model = deployment.spec.model
            message = f"model {model.name!r} has no version with alias {model.alias!r}"
            self.writer.write(
                ref, [valid(), Condition(type=READY, status=False, reason="NoChampion", message=message)]
            )
            return "waiting"
        try:
            return self._serve(ref, obj, deployment, champion)
        except MissingCrd as error:
            self.writer.write(
                ref,
                [
                    valid(),
                    Condition(type=BACKEND_AVAILABLE, status=False, reason="CrdMissing", message=str(error)),
                    Condition(type=READY, status=False, reason="CrdMissing", message=str(error)),
                ],
            )
            return "backend-missing"

    def _serve(self, ref: Ref, obj: dict[str, Any], deployment: ModelDeployment, champion: str) -> str:
        backend = cluster_backend(
            deployment, api=self.api, config=self.config, owner_uid=obj["metadata"].get("uid")
        )
        target = RolloutTarget(
            deployment=deployment.name, model=deployment.spec.model.name, strategy=deployment.spec.rollout
        )
        found = self.backends.registry.version_for_alias(deployment.spec.model.name, CHALLENGER)
        seen = Seen(
            champion=champion,
            challenger=None if found is None else str(found.version),
            refusal=backend.refusal,
        )
        loop = self.loop(self._ports(deployment, backend))
        command = pending_command(obj)
        result: Reconciled | None = None
        extra: dict[str, Any] = {}
        if command is not None:
            result, extra["lastCommand"] = self._command(loop, target, seen, command)
        if result is None:
            result = loop.reconcile(target, seen=seen)
        if result.state is None:
            extra.update({"phase": "stable", "champion": champion, "canaryWeight": 0})
        self.writer.write(ref, serving_conditions(result, champion=champion, refusal=backend.refusal), extra)
        return result.outcome

    def _command(
        self, loop: RolloutLoop, target: RolloutTarget, seen: Seen, command: Command
    ) -> tuple[Reconciled | None, dict[str, Any]]:
        """Carry out a by-hand command; its answer for the status, and the reconcile it was (if done)."""
        now = self.backends.clock()
        if command.problem is not None:
            return None, answer(command, result=REFUSED, message=command.problem, now=now)
        try:
            result = loop.reconcile(target, seen=seen, request=command.request())
        except RolloutRefused as refused:
            return None, answer(command, result=REFUSED, message=str(refused), now=now)
        state = result.state
        message = state.history[-1].reason if state is not None and state.history else result.outcome
        return result, answer(command, result=DONE, message=message, now=now)

    def _ports(self, deployment: ModelDeployment, backend: ClusterBackend) -> Ports:
        b = self.backends

        def converge(routes: Routes) -> None:
            for desired in backend.objects(routes):
                self.api.apply(desired)

        return Ports(
            router=backend.router,
            servers=backend.servers,
            registry=b.registry,
            metrics=b.metrics,
            store=StatusStateStore(api=self.api, namespace=deployment.metadata.namespace),
            predictions=b.predictions(deployment.name) if b.predictions else None,
            labeled=b.labeled(deployment.name) if b.labeled else None,
            clock=b.clock,
            telemetry=b.telemetry,
            converge=converge,
        )

    def _champion(self, deployment: ModelDeployment) -> str | None:
        model = deployment.spec.model
        if model.version is not None:
            return model.version
        found = self.backends.registry.version_for_alias(model.name, model.alias)
        return None if found is None else str(found.version)
