"""The rollout controller: observe, decide with the pure engine, persist, then act; resumable at any point.

Every decision is saved with its actions pending before any action runs, and each action is cleared
from the state file only after it ran. A controller killed anywhere restarts, replays what was
pending (all idempotent) and carries on at the same step; it never decides the same step twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from kubeloop.analysis.measure import PredictionReader, Subject, measure
from kubeloop.controller.actions import RolloutRegistry, execute
from kubeloop.controller.telemetry import RolloutMetrics
from kubeloop.errors import KubeloopError
from kubeloop.metricsources.base import MetricSource
from kubeloop.registry.names import CHAMPION
from kubeloop.rollout.engine import (
    Decision,
    DecisionKind,
    decide,
    manual_promote,
    manual_rollback,
    next_analysis_at,
)
from kubeloop.rollout.plan import action_from_dict, apply, start_actions
from kubeloop.rollout.retirement import RETIRED, retire_due
from kubeloop.rollout.state import Phase, RolloutState, initial_state
from kubeloop.rollout.store import StateStore
from kubeloop.routing.base import TrafficRouter
from kubeloop.spec import RolloutSpec

# Called with (deployment, version) for a server no longer needed: the rolled-back challenger, or
# the previous champion once its warm period is over.
Retire = Callable[[str, str], None]


@dataclass(frozen=True, kw_only=True)
class Ports:
    """Everything the controller talks to, one narrow interface each."""

    router: TrafficRouter
    registry: RolloutRegistry
    metrics: MetricSource
    store: StateStore
    predictions: PredictionReader | None = None
    telemetry: RolloutMetrics | None = None
    clock: Callable[[], float] = time.time
    retire: Retire | None = None
    task: str | None = None


class Controller:
    """Drives rollouts of one or more deployments through the ports."""

    def __init__(self, ports: Ports) -> None:
        self.ports = ports

    def check_can_start(self, *, deployment: str, model: str, version: str) -> str:
        """The champion to compare with; refuses an unknown version, the champion itself, a second rollout."""
        p = self.ports
        current = p.store.load(deployment)
        if current is not None and not current.done:
            raise KubeloopError(
                f"deployment {deployment!r} already has a rollout of version {current.challenger} in "
                f"{current.phase.value}; promote or roll it back first"
            )
        p.registry.get_version(model, version)
        champion = p.registry.version_for_alias(model, CHAMPION)
        if champion is None:
            raise KubeloopError(f"model {model!r} has no champion to compare version {version} with")
        if str(champion.version) == str(version):
            raise KubeloopError(f"version {version} of {model!r} is already the champion")
        return str(champion.version)

    def start(self, *, deployment: str, model: str, version: str, spec: RolloutSpec) -> RolloutState:
        """Begin a rollout of `version`; refused when the version is unknown or another rollout runs."""
        p = self.ports
        with p.store.lock(deployment):
            champion = self.check_can_start(deployment=deployment, model=model, version=version)
            if p.store.load(deployment) is not None:
                p.store.archive(deployment)
            state = initial_state(
                deployment=deployment,
                model=model,
                champion=champion,
                challenger=str(version),
                spec=spec,
                now=p.clock(),
            )
            state = state.evolve(pending=tuple(a.to_dict() for a in start_actions(state)))
            p.store.save(state)
            return self._finish_pending(state)

    def tick(self, deployment: str) -> RolloutState:
        """One reconcile: finish pending actions, then measure and decide if an analysis is due."""
        p = self.ports
        with p.store.lock(deployment):
            state = self._finish_pending(p.store.require(deployment))
            now = p.clock()
            if state.phase.terminal or now < next_analysis_at(state):
                return state
            results = measure(
                state.spec.checks,
                subject=self._subject(state),
                phase=state.phase.value,
                since=state.last_analysis_at or state.step_started_at,
                until=now,
                metrics=p.metrics,
                predictions=p.predictions,
            )
            decision = decide(state.spec, state, results, now=now)
            return self._commit(state, decision, now=now)

    def promote(self, deployment: str, *, reason: str = "promoted by hand") -> RolloutState:
        """Skip the remaining steps: full weight to the challenger and flip the aliases, now."""
        return self._by_hand(deployment, lambda state: manual_promote(state, reason=reason))

    def rollback(self, deployment: str, *, reason: str = "rolled back by hand") -> RolloutState:
        """All traffic back to the champion at once; aliases stay, the reason is tagged on the version."""
        return self._by_hand(deployment, lambda state: manual_rollback(state, reason=reason))

    def run(
        self, deployment: str, *, stop: threading.Event | None = None, poll: float = 0.25
    ) -> RolloutState:
        """Reconcile until the rollout ends; returns at once then (see `kubeloop.rollout.retirement`)."""
        stop = stop or threading.Event()
        while True:
            state = self.tick(deployment)
            if state.done:
                return self._retire_due(state)
            wake = next_analysis_at(state) if not state.phase.terminal else self.ports.clock() + poll
            if stop.wait(min(poll, max(0.0, wake - self.ports.clock()))):
                return state

    def _by_hand(self, deployment: str, choose: Callable[[RolloutState], Decision]) -> RolloutState:
        p = self.ports
        with p.store.lock(deployment):
            state = self._finish_pending(p.store.require(deployment))
            decision = choose(state)
            if state.phase.terminal and not self._late_rollback_allowed(state, decision):
                raise KubeloopError(f"the rollout of {deployment!r} already ended ({state.phase.value})")
            return self._commit(state, decision, now=p.clock())

    def _late_rollback_allowed(self, state: RolloutState, decision: Decision) -> bool:
        """After promotion, rolling back is allowed while the previous champion's server is kept warm."""
        if state.phase is not Phase.PROMOTED or decision.kind is not DecisionKind.ROLLBACK:
            return False
        if state.extra.get(RETIRED) or (state.previous_warm_until or 0) <= self.ports.clock():
            raise KubeloopError(
                f"version {state.challenger} was promoted and version {state.champion} is no longer "
                f"kept warm; roll version {state.champion} out again to go back"
            )
        return True

    def _commit(self, state: RolloutState, decision: Decision, *, now: float) -> RolloutState:
        after = apply(state, decision, now=now)
        if after is not state:
            self.ports.store.save(after)
            after = self._finish_pending(after)
        if self.ports.telemetry is not None:
            self.ports.telemetry.record(after, decision)
        return after

    def _finish_pending(self, state: RolloutState) -> RolloutState:
        """Run the pending actions in order, saving after each so none is repeated after a crash."""
        while state.pending:
            execute(
                action_from_dict(state.pending[0]), router=self.ports.router, registry=self.ports.registry
            )
            done, rest = state.pending[0], state.pending[1:]
            state = state.evolve(pending=rest)
            if done["kind"] == "routes" and not any(a["kind"] == "routes" for a in rest):
                state = state.routed(now=self.ports.clock())
            self.ports.store.save(state)
        return state

    def _retire_due(self, state: RolloutState) -> RolloutState:
        """Stop the server the ended rollout no longer needs, if its time has come; the previous
        champion's, kept warm, is left to whoever runs when its warm period ends."""
        p = self.ports
        if p.retire is None:
            return state
        saved = retire_due(p.store, state.deployment, now=p.clock(), retire=p.retire)
        return saved or state

    def _subject(self, state: RolloutState) -> Subject:
        return Subject(
            deployment=state.deployment,
            champion=state.champion,
            challenger=state.challenger,
            task=self.ports.task,
        )
