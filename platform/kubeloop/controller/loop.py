"""The rollout controller: observe, plan with the pure `plan_reconcile`, persist, then act; resumable.

Both modes run this loop: the local CLI (start, tick, promote, rollback, run) and the operator
(`reconcile`, following the registry's challenger alias). Every new state is saved with its actions
pending before any action runs, and each action is cleared only after it ran; a controller killed
anywhere restarts, replays what was pending (all idempotent) and carries on at the same step. A
save that finds the stored state changed since it was read (StateConflict) starts the whole
reconcile again from a fresh read, so a concurrent decision is never overwritten.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from kubeloop.analysis.measure import LabeledReader, PredictionReader, Subject, measure
from kubeloop.analysis.results import CheckResult
from kubeloop.controller.actions import RolloutRegistry, execute
from kubeloop.controller.telemetry import RolloutMetrics
from kubeloop.errors import BackendUnavailable, KubeloopError
from kubeloop.metricsources.base import MetricSource
from kubeloop.registry.names import CHAMPION
from kubeloop.rollout.actions import RetireServer, SetRoutes
from kubeloop.rollout.engine import analysis_due, next_analysis_at
from kubeloop.rollout.reconcile import (
    Observed,
    PromoteNow,
    ReconcilePlan,
    Request,
    RollBack,
    RolloutTarget,
    StartRollout,
    plan_reconcile,
    retirement_due,
    start_candidate,
)
from kubeloop.rollout.state import RolloutState
from kubeloop.rollout.store import StateConflict, StateStore
from kubeloop.routing.base import ModelServers, Routes, TrafficRouter
from kubeloop.spec import RolloutSpec

CONFLICT_ATTEMPTS = 5
# Plan, act, plan again: a decision, then the retirement it made due, then nothing; never more.
MAX_PASSES = 3


class RolloutRefused(KubeloopError):
    """A by-hand command (start, promote, rollback) the rollout's state does not allow; nothing changed."""


@dataclass(frozen=True, kw_only=True)
class Ports:
    """Everything the controller talks to for one deployment, one narrow interface each."""

    router: TrafficRouter
    servers: ModelServers
    registry: RolloutRegistry
    metrics: MetricSource
    store: StateStore
    predictions: PredictionReader | None = None
    labeled: LabeledReader | None = None
    telemetry: RolloutMetrics | None = None
    clock: Callable[[], float] = time.time
    # Keeps the backend's own objects on the routes in effect before any action (the operator applies
    # its desired objects); local servers and gateway routes are kept by `deploy`, so None there.
    converge: Callable[[Routes], None] | None = None
    task: str | None = None


@dataclass(frozen=True, kw_only=True)
class Seen:
    """What the operator read from the registry and the backend for a reconcile."""

    champion: str
    challenger: str | None = None
    refusal: str | None = None


@dataclass(frozen=True, kw_only=True)
class Reconciled:
    """What a reconcile came to: its outcome (a phase, "stable", "waiting-for-challenger") and state."""

    outcome: str
    state: RolloutState | None


class Controller:
    """Drives the rollout of the deployment its ports are bound to."""

    def __init__(self, ports: Ports) -> None:
        self.ports = ports

    def start(self, *, deployment: str, model: str, version: str, spec: RolloutSpec) -> RolloutState:
        """Begin a rollout of `version` (its server started first); refused when another runs."""
        target = RolloutTarget(deployment=deployment, model=model, strategy=spec)
        state = self._reconcile(target, request=StartRollout(version=version)).state
        assert state is not None  # a refused start raises
        return state

    def tick(self, deployment: str) -> RolloutState:
        """One reconcile: finish pending actions, then measure and decide if an analysis is due."""
        return self._by_state(deployment, None)

    def promote(self, deployment: str, *, reason: str = "promoted by hand") -> RolloutState:
        """Skip the remaining steps: full weight to the challenger and flip the aliases, now."""
        return self._by_state(deployment, PromoteNow(reason=reason))

    def rollback(self, deployment: str, *, reason: str = "rolled back by hand") -> RolloutState:
        """All traffic back to the champion at once; aliases stay, the reason is tagged on the version."""
        return self._by_state(deployment, RollBack(reason=reason))

    def reconcile(self, target: RolloutTarget, *, seen: Seen, request: Request | None = None) -> Reconciled:
        """The operator's reconcile: converge, follow the challenger alias (or do a by-hand `request`),
        analyse, retire when due; a request the state does not allow raises RolloutRefused."""
        return self._reconcile(target, seen=seen, request=request)

    def run(
        self, deployment: str, *, stop: threading.Event | None = None, poll: float = 0.25
    ) -> RolloutState:
        """Reconcile until the rollout ends (its actions done); returns at once then.

        The server a promotion keeps warm is retired later by whoever ticks when its time comes (the
        local supervisor, the operator), so a waiting caller is not held for the warm period.
        """
        stop = stop or threading.Event()
        while True:
            state = self.tick(deployment)
            if state.done:
                return state
            clock = self.ports.clock
            wake = clock() + poll if state.phase.terminal else next_analysis_at(state.spec, state)
            if stop.wait(min(poll, max(0.0, wake - clock()))):
                return state

    def _by_state(self, deployment: str, request: Request | None) -> RolloutState:
        current = self.ports.store.require(deployment)
        target = RolloutTarget(deployment=deployment, model=current.model, strategy=current.spec)
        state = self._reconcile(target, request=request, must_exist=True).state
        assert state is not None
        return state

    def _reconcile(
        self,
        target: RolloutTarget,
        *,
        request: Request | None = None,
        seen: Seen | None = None,
        must_exist: bool = False,
    ) -> Reconciled:
        for _ in range(CONFLICT_ATTEMPTS):
            try:
                with self.ports.store.lock(target.deployment):
                    return self._settle(target, request=request, seen=seen, must_exist=must_exist)
            except StateConflict:
                continue
        raise BackendUnavailable(
            f"the rollout state of {target.deployment!r} kept changing under {CONFLICT_ATTEMPTS} attempts"
        )

    def _settle(
        self, target: RolloutTarget, *, request: Request | None, seen: Seen | None, must_exist: bool
    ) -> Reconciled:
        """Plan and carry out until the plan asks for nothing more (a decision, then what it made due)."""
        store = self.ports.store
        state = self._finish_pending(
            store.require(target.deployment) if must_exist else store.load(target.deployment)
        )
        outcome = "stable"
        for attempt in range(MAX_PASSES):
            plan = self._plan(target, state, request=request, seen=seen)
            if attempt == 0 and plan.serving is not None and self.ports.converge is not None:
                self.ports.converge(plan.serving)
            if plan.refused is not None and request is not None:
                raise RolloutRefused(plan.refused)
            if plan.start_server is not None and attempt == 0:
                self.ports.servers.start(plan.start_server)
                continue  # a local server answers now; a cluster one on a later reconcile
            outcome = plan.outcome
            if plan.state is None:
                break
            state, request = self._commit(plan, state), None
        return Reconciled(outcome=outcome, state=state)

    def _plan(
        self, target: RolloutTarget, state: RolloutState | None, *, request: Request | None, seen: Seen | None
    ) -> ReconcilePlan:
        now = self.ports.clock()
        observed = self._observe(target, state, request=request, seen=seen, now=now)
        return plan_reconcile(spec=target, observed=observed, state=state, now=now)

    def _observe(
        self,
        target: RolloutTarget,
        state: RolloutState | None,
        *,
        request: Request | None,
        seen: Seen | None,
        now: float,
    ) -> Observed:
        if seen is not None:
            observed = Observed(
                champion=seen.champion, challenger=seen.challenger, refusal=seen.refusal, request=request
            )
        else:
            observed = Observed(champion=self._champion(target, request), request=request)
        candidate = start_candidate(observed=observed, state=state)
        ready = candidate is not None and self.ports.servers.ready(candidate)
        due = request is None and state is not None and analysis_due(state.spec, state, now=now)
        measured = self._measure(state, now=now) if due and state is not None else None
        return replace(observed, ready=ready, measured=measured)

    def _champion(self, target: RolloutTarget, request: Request | None) -> str | None:
        """For a by-hand start: the version must exist; the champion is what it is compared with."""
        if not isinstance(request, StartRollout):
            return None
        registry = self.ports.registry
        registry.get_version(target.model, request.version)
        found = registry.version_for_alias(target.model, CHAMPION)
        return None if found is None else str(found.version)

    def _measure(self, state: RolloutState, *, now: float) -> tuple[CheckResult, ...]:
        results = measure(
            state.spec.checks,
            subject=self._subject(state),
            phase=state.phase.value,
            since=state.last_analysis_at or state.step_started_at,
            until=now,
            metrics=self.ports.metrics,
            predictions=self.ports.predictions,
            labeled=self.ports.labeled,
            started_at=state.started_at,
        )
        return tuple(results)

    def _commit(self, plan: ReconcilePlan, before: RolloutState | None) -> RolloutState:
        """Save the planned state (its actions pending), then carry the actions out."""
        assert plan.state is not None
        store = self.ports.store
        if plan.archive and before is not None:
            store.archive(before.deployment)
        store.save(plan.state)
        after = self._finish_pending(plan.state)
        assert after is not None
        if plan.decision is not None and self.ports.telemetry is not None:
            self.ports.telemetry.record(after, plan.decision)
        return after

    def _finish_pending(self, state: RolloutState | None) -> RolloutState | None:
        """Run the pending actions in order, saving after each so none is repeated after a crash."""
        p = self.ports
        while state is not None and state.pending:
            done, rest = state.pending[0], state.pending[1:]
            execute(done, router=p.router, servers=p.servers, registry=p.registry)
            state = state.evolve(pending=rest)
            if isinstance(done, SetRoutes) and not any(isinstance(a, SetRoutes) for a in rest):
                state = state.routed(now=p.clock())
            p.store.save(state)
        return state

    def _subject(self, state: RolloutState) -> Subject:
        return Subject(
            deployment=state.deployment,
            champion=state.champion,
            challenger=state.challenger,
            task=self.ports.task,
        )


def retire_when_due(
    *, store: StateStore, servers: ModelServers, deployment: str, now: float
) -> RolloutState | None:
    """Carry out a finished rollout's due retirement alone, as a supervisor does once the controller exited.

    The same rule and the same record as the controller's (`retirement_due`): marked done and pending
    first, so the controller (or a second supervisor) never stops the server twice. None when none is due.
    """
    with store.lock(deployment):
        due = retirement_due(store.load(deployment), now=now)
        if due is None:
            return None
        store.save(due)
        for action in due.pending:
            assert isinstance(action, RetireServer)
            servers.retire(action.version)
        done = due.evolve(pending=())
        store.save(done)
        return done
