"""One reconcile of a ModelDeployment: the operator's whole job, run by kopf on a timer and on every change.

Desired objects come from the pure builders; the rollout runs in the same controller loop as the
local mode (injected, `Controller` by default) with the state kept in the status. Failures users can
act on become conditions, not crash loops: a spec that breaks the schema names the field, a missing
KServe/Istio/Gateway API CRD says what to install, and a deleted object ends reconciliation quietly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast

from kubeloop.analysis.measure import LabeledReader, PredictionReader, Subject
from kubeloop.controller.actions import RolloutRegistry
from kubeloop.controller.loop import Controller, Ports
from kubeloop.controller.telemetry import RolloutMetrics
from kubeloop.errors import SpecError
from kubeloop.k8s.api import Gone, KubeApi, MissingCrd, Ref
from kubeloop.k8s.config import ClusterConfig
from kubeloop.k8s.render import check_router, desired_objects, version_objects
from kubeloop.k8s.status import BACKEND_AVAILABLE, READY, ROLLING_OUT, SPEC_VALID, Condition, merge_conditions
from kubeloop.k8s.status_store import StatusStateStore, deployment_ref
from kubeloop.metricsources.base import MetricSource
from kubeloop.registry.names import CHALLENGER
from kubeloop.rollout.plan import routes_for
from kubeloop.rollout.state import RolloutState
from kubeloop.rollout.store import StateStore
from kubeloop.routing.base import Routes
from kubeloop.routing.factory import cluster_router
from kubeloop.spec import ModelDeployment, parse_deployment
from kubeloop.telemetry.names import REQUEST_DURATION, REQUESTS_TOTAL


class RolloutLoop(Protocol):
    """The controller loop the operator drives (kubeloop.controller.loop.Controller)."""

    def start(self, *, deployment: str, model: str, version: str, spec: Any) -> RolloutState:
        """Begin a rollout of `version`."""

    def tick(self, deployment: str) -> RolloutState:
        """Finish pending actions, then measure and decide if an analysis is due."""


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
    ) -> None:
        self.api, self.config, self.backends, self.loop = api, config, backends, loop

    def reconcile(self, *, namespace: str, name: str) -> str:
        """Bring one ModelDeployment a step closer to its spec; returns the outcome (phase or condition)."""
        try:
            return self._reconcile(deployment_ref(namespace=namespace, name=name))
        except Gone:
            return "gone"

    def _reconcile(self, ref: Ref) -> str:
        obj = self.api.get(ref)
        if obj is None:
            return "gone"
        try:
            deployment = deployment_from_object(obj)
            check_router(deployment)
        except SpecError as error:
            message = str(error).removeprefix("invalid ModelDeployment: ")
            self._write(
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
            self._write(
                ref, [_valid(), Condition(type=READY, status=False, reason="NoChampion", message=message)]
            )
            return "waiting"
        try:
            return self._serve(ref, obj, deployment, champion)
        except MissingCrd as error:
            self._write(
                ref,
                [
                    _valid(),
                    Condition(type=BACKEND_AVAILABLE, status=False, reason="CrdMissing", message=str(error)),
                    Condition(type=READY, status=False, reason="CrdMissing", message=str(error)),
                ],
            )
            return "backend-missing"

    def _serve(self, ref: Ref, obj: dict[str, Any], deployment: ModelDeployment, champion: str) -> str:
        store = StatusStateStore(api=self.api, namespace=ref.namespace)
        router = cluster_router(deployment, api=self.api, config=self.config)
        state = store.load(deployment.name)
        active = state is not None and not state.done
        routes = Routes(stable=champion)
        if state is not None and active:
            routes = routes_for(state, phase=state.phase, weight=state.weight)
        for desired in desired_objects(
            deployment, routes, config=self.config, owner_uid=obj["metadata"].get("uid")
        ):
            self.api.apply(_clearing_canary(desired, deployment))
        b = self.backends
        loop = self.loop(
            Ports(
                router=router,
                registry=b.registry,
                metrics=b.metrics,
                store=cast(StateStore, store),  # the same operations as the state file, kept in the status
                predictions=b.predictions(deployment.name) if b.predictions else None,
                labeled=b.labeled(deployment.name) if b.labeled else None,
                clock=b.clock,
                telemetry=b.telemetry,
            )
        )
        if active:
            state = loop.tick(deployment.name)
        else:
            started = self._maybe_start(deployment, loop, state, champion, obj["metadata"].get("uid"))
            if isinstance(started, str):
                return started
            state = started
        if state is not None and state.done:
            self._retire(store, state, router)
        rolling = state is not None and not state.done
        extra = {} if state is not None else {"phase": "stable", "champion": champion, "canaryWeight": 0}
        self._write(
            ref,
            [
                _valid(),
                Condition(type=BACKEND_AVAILABLE, status=True, reason="Installed"),
                Condition(type=READY, status=True, reason="Serving", message=f"champion {champion}"),
                Condition(
                    type=ROLLING_OUT,
                    status=rolling,
                    reason="RollingOut" if rolling else "Idle",
                    message=state.history[-1].reason if state and state.history else "",
                ),
            ],
            extra,
        )
        return state.phase.value if state is not None else "stable"

    def _maybe_start(
        self,
        deployment: ModelDeployment,
        loop: RolloutLoop,
        state: RolloutState | None,
        champion: str,
        owner: str | None,
    ) -> RolloutState | str | None:
        found = self.backends.registry.version_for_alias(deployment.spec.model.name, CHALLENGER)
        challenger = None if found is None else str(found.version)
        if (
            challenger is None
            or challenger == champion
            or (state is not None and state.challenger == challenger)
        ):
            return state
        if not self._challenger_ready(deployment, challenger, owner):
            return "waiting-for-challenger"
        return loop.start(
            deployment=deployment.name,
            model=deployment.spec.model.name,
            version=challenger,
            spec=deployment.spec.rollout,
        )

    def _challenger_ready(self, deployment: ModelDeployment, version: str, owner: str | None) -> bool:
        """With a mesh, the challenger's own InferenceService must be Ready before any traffic goes to it."""
        if deployment.spec.router == "kserve":
            return True  # KServe shifts traffic to a new revision only once it is ready
        objects = version_objects(deployment, version, "challenger", config=self.config, owner_uid=owner)
        live = [self.api.apply(obj) for obj in objects][0]
        conditions = live.get("status", {}).get("conditions", [])
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    def _retire(self, store: StatusStateStore, state: RolloutState, router: Any) -> None:
        """Stop the server the finished rollout left behind, once the previous champion's warm period ends."""
        if state.extra.get("retired"):
            return
        promoted = state.phase.value == "promoted"
        if promoted and (state.previous_warm_until or 0) > self.backends.clock():
            return
        router.retire(state.champion if promoted else state.challenger)
        store.save(state.evolve(extra={**state.extra, "retired": True}))

    def _champion(self, deployment: ModelDeployment) -> str | None:
        model = deployment.spec.model
        if model.version is not None:
            return model.version
        found = self.backends.registry.version_for_alias(model.name, model.alias)
        return None if found is None else str(found.version)

    def _write(self, ref: Ref, conditions: list[Condition], extra: dict[str, Any] | None = None) -> None:
        def mutate(obj: dict[str, Any]) -> dict[str, Any] | None:
            status = dict(obj.get("status") or {})
            generation = obj["metadata"].get("generation", 0)
            merged = merge_conditions(status.get("conditions", []), conditions, generation=generation)
            new = {**status, **(extra or {}), "conditions": merged, "observedGeneration": generation}
            if new == obj.get("status"):
                return None
            obj["status"] = new
            return obj

        self.api.update(ref, mutate, status=True)


def _clearing_canary(obj: dict[str, Any], deployment: ModelDeployment) -> dict[str, Any]:
    """The KServe router's InferenceService with canaryTrafficPercent null when there is no canary.

    Applying it to a live object that still has one (after a rollback) then removes it."""
    if obj["kind"] != "InferenceService" or obj["metadata"]["name"] != deployment.name:
        return obj
    predictor = obj["spec"]["predictor"]
    if "canaryTrafficPercent" in predictor:
        return obj
    return {**obj, "spec": {**obj["spec"], "predictor": {**predictor, "canaryTrafficPercent": None}}}


def _valid() -> Condition:
    return Condition(type=SPEC_VALID, status=True, reason="Valid")
