"""The controller against MemoryRouter and fakes: full rollouts, rollbacks, refusals and crash-resume."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from controller_fakes import Clock, DialMetrics, FakeRegistry
from prometheus_client import generate_latest

from kubeloop.controller.loop import Controller, Ports, retire_when_due
from kubeloop.controller.telemetry import RolloutMetrics
from kubeloop.errors import KubeloopError, NotFoundError
from kubeloop.registry.names import TAG_ROLLOUT_OUTCOME, TAG_ROLLOUT_REASON
from kubeloop.rollout.file_store import FileStateStore
from kubeloop.rollout.state import Phase
from kubeloop.routing.base import RouteChange, Routes, TrafficRouter
from kubeloop.routing.memory import MemoryRouter, MemoryServers
from kubeloop.spec import RolloutSpec

SPEC = RolloutSpec.model_validate(
    {"shadow": {"duration": 2, "minSamples": 50}, "canary": {"steps": [10, 25, 50], "interval": 2}}
)


def agreeing(version: str, since: float, until: float) -> pd.DataFrame:
    return pd.DataFrame(
        {"request_id": [str(i) for i in range(100)], "row": 0, "prediction": [0, 1] * 50, "status": 200}
    )


def disagreeing(version: str, since: float, until: float) -> pd.DataFrame:
    frame = agreeing(version, since, until)
    return frame.assign(prediction=frame["prediction"] if version == "1" else 1 - frame["prediction"])


class Given:
    """A deployment `iris` with champion version 1 and a controller wired to fakes."""

    def __init__(self, tmp_path: Path, *, predictions=agreeing) -> None:  # type: ignore[no-untyped-def]
        self.router = MemoryRouter()
        self.router.set_routes(Routes(stable="1"))
        self.servers = MemoryServers(self.router, running={"1"})
        self.registry = FakeRegistry()
        self.metrics = DialMetrics()
        self.clock = Clock()
        self.store = FileStateStore(tmp_path)
        self.telemetry = RolloutMetrics()
        self.predictions = predictions

    def controller(self, router: TrafficRouter | None = None) -> Controller:
        return Controller(
            Ports(
                router=router or self.router,
                servers=self.servers,
                registry=self.registry,
                metrics=self.metrics,
                store=self.store,
                predictions=self.predictions,
                telemetry=self.telemetry,
                clock=self.clock,
            )
        )

    def advance(self, controller: Controller, seconds: float = 2.0) -> Phase:
        self.clock.now += seconds
        return controller.tick("iris").phase


@pytest.fixture
def given(tmp_path: Path) -> Given:
    return Given(tmp_path)


def test_good_challenger_walks_shadow_every_step_and_is_promoted(given: Given) -> None:
    controller = given.controller()
    state = controller.start(deployment="iris", model="iris-clf", version="2", spec=SPEC)
    assert given.router.routes == Routes(stable="1", shadow="2", shadow_percent=100)
    assert given.registry.aliases["challenger"] == "2"
    while not state.phase.terminal:
        given.clock.now += 2
        state = controller.tick("iris")
    weights = [r.canary_weight for r in given.router.history]
    assert weights == [0, 0, 10, 25, 50, 100, 0]
    assert given.router.routes == Routes(stable="2")
    assert given.registry.aliases == {"champion": "2", "previous": "1"}
    assert given.registry.tags["2"][TAG_ROLLOUT_OUTCOME] == "promoted"
    assert [e.kind for e in state.history] == ["advance", "advance", "advance", "promote"]
    assert state.done and state.previous_warm_until == given.clock.now + SPEC.keep_previous_warm


def test_errors_roll_back_at_the_failure_limit_with_the_reason_tagged(given: Given) -> None:
    controller = given.controller()
    controller.start(deployment="iris", model="iris-clf", version="2", spec=SPEC)
    given.advance(controller)
    assert given.router.routes.canary_weight == 10
    given.metrics.errors = 0.3
    assert given.advance(controller) is Phase.CANARY
    assert given.advance(controller) is Phase.ROLLED_BACK
    assert given.router.routes == Routes(stable="1")
    assert given.registry.aliases == {"champion": "1", "challenger": "2"}, (
        "rollback leaves aliases as they were"
    )
    tags = given.registry.tags["2"]
    assert tags[TAG_ROLLOUT_OUTCOME] == "rolled-back" and "error-rate" in tags[TAG_ROLLOUT_REASON]


def test_disagreeing_challenger_is_stopped_in_shadow_without_live_traffic(tmp_path: Path) -> None:
    given = Given(tmp_path, predictions=disagreeing)
    controller = given.controller()
    controller.start(deployment="iris", model="iris-clf", version="2", spec=SPEC)
    given.advance(controller)
    assert given.advance(controller) is Phase.ROLLED_BACK
    assert all(routes.canary_weight == 0 for routes in given.router.history)
    assert "disagreement" in given.store.require("iris").history[-1].reason


def test_start_is_refused_for_an_unknown_version_or_while_a_rollout_runs(given: Given) -> None:
    controller = given.controller()
    with pytest.raises(NotFoundError, match="no version 9"):
        controller.start(deployment="iris", model="iris-clf", version="9", spec=SPEC)
    with pytest.raises(KubeloopError, match="already the champion"):
        controller.start(deployment="iris", model="iris-clf", version="1", spec=SPEC)
    controller.start(deployment="iris", model="iris-clf", version="2", spec=SPEC)
    with pytest.raises(KubeloopError, match="already has a rollout of version 2 in shadow"):
        controller.start(deployment="iris", model="iris-clf", version="3", spec=SPEC)


def test_a_finished_rollout_is_archived_when_the_next_starts(given: Given) -> None:
    controller = given.controller()
    controller.start(deployment="iris", model="iris-clf", version="2", spec=SPEC)
    controller.rollback("iris")
    controller.start(deployment="iris", model="iris-clf", version="3", spec=SPEC)
    assert [s.challenger for s in given.store.archived("iris")] == ["2"]


def test_promote_and_rollback_by_hand(given: Given) -> None:
    controller = given.controller()
    controller.start(deployment="iris", model="iris-clf", version="2", spec=SPEC)
    state = controller.promote("iris")
    assert state.phase is Phase.PROMOTED and given.registry.aliases["champion"] == "2"
    with pytest.raises(KubeloopError, match="already ended"):
        controller.promote("iris")


def test_a_late_rollback_while_the_old_champion_is_warm_restores_it(given: Given) -> None:
    controller = given.controller()
    controller.start(deployment="iris", model="iris-clf", version="2", spec=SPEC)
    controller.promote("iris")
    given.clock.now += SPEC.keep_previous_warm - 1
    state = controller.rollback("iris", reason="late regression")
    assert state.phase is Phase.ROLLED_BACK and given.router.routes == Routes(stable="1")
    assert given.registry.aliases == {"champion": "1", "previous": "2"}
    assert given.registry.tags["2"][TAG_ROLLOUT_REASON] == "late regression"


def test_no_late_rollback_once_the_old_champion_is_cold(given: Given) -> None:
    controller = given.controller()
    controller.start(deployment="iris", model="iris-clf", version="2", spec=SPEC)
    controller.promote("iris")
    given.clock.now += SPEC.keep_previous_warm + 1
    with pytest.raises(KubeloopError, match="no longer kept warm"):
        controller.rollback("iris")
    assert given.registry.aliases["champion"] == "2"


class Crash(Exception):
    """Stands for the controller process being killed."""


class Dying:
    """Wraps the router and the registry; the n-th change takes effect, then the process 'dies'."""

    def __init__(self, given: Given, after: int) -> None:
        self.given, self.after = given, after

    def _tick(self) -> None:
        self.after -= 1
        if self.after == 0:
            raise Crash

    def router(self) -> TrafficRouter:
        dying, inner = self, self.given.router

        class DyingRouter:
            def set_routes(self, routes: Routes, *, change: RouteChange = RouteChange.STEP) -> None:
                inner.set_routes(routes, change=change)
                dying._tick()

            def get_routes(self) -> Routes | None:
                return inner.get_routes()

        return DyingRouter()

    def wrap_registry(self, monkeypatch: pytest.MonkeyPatch) -> None:
        registry = self.given.registry
        for name in ("promote", "set_tags"):
            original = getattr(registry, name)

            def dying_call(*args: object, _original=original, **kwargs: object) -> object:  # type: ignore[no-untyped-def]
                result = _original(*args, **kwargs)
                self._tick()
                return result

            monkeypatch.setattr(registry, name, dying_call)


# Promotion's actions in order: full weight, alias flip, stable on the new champion, outcome tag.
@pytest.mark.parametrize("crash_after", [1, 2, 3, 4])
def test_killed_mid_promotion_resumes_without_repeating_actions(
    given: Given, crash_after: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_shadow = SPEC.model_copy(update={"shadow": None})
    given.controller().start(deployment="iris", model="iris-clf", version="2", spec=no_shadow)
    given.advance(given.controller())
    given.advance(given.controller())
    before = len(given.router.history)
    dying = Dying(given, crash_after)
    crashing = given.controller(dying.router())
    with monkeypatch.context() as patch:
        dying.wrap_registry(patch)
        given.clock.now += 2
        with pytest.raises(Crash):
            crashing.tick("iris")
    saved = given.store.require("iris")
    assert saved.phase is Phase.PROMOTED and saved.pending, "the decision is saved before its actions run"
    state = given.controller().tick("iris")
    assert state.done and given.registry.aliases == {"champion": "2", "previous": "1"}
    changes = given.router.history[before:]
    assert changes == [Routes(stable="1", canary="2", canary_weight=100), Routes(stable="2")]
    assert given.registry.calls.count(("promote", "2")) == 1
    assert [e.kind for e in state.history].count("promote") == 1


def test_restart_mid_canary_resumes_at_the_same_step(given: Given) -> None:
    given.controller().start(deployment="iris", model="iris-clf", version="2", spec=SPEC)
    given.advance(given.controller())
    assert given.store.require("iris").weight == 10
    given.clock.now += 1  # killed half-way through the step
    fresh = given.controller()
    assert fresh.tick("iris").weight == 10, "a restart does not re-decide before the interval is over"
    given.clock.now += 1
    assert fresh.tick("iris").weight == 25


def test_metrics_follow_the_rollout(given: Given) -> None:
    controller = given.controller()
    controller.start(deployment="iris", model="iris-clf", version="2", spec=SPEC)
    given.advance(controller)
    text = generate_latest(given.telemetry.registry).decode()
    assert 'kubeloop_rollout_canary_weight{deployment="iris"} 10.0' in text
    assert 'kubeloop_rollout_phase{deployment="iris",phase="canary"} 1.0' in text
    assert 'kubeloop_rollout_check_status{check="error-rate",deployment="iris"} 1.0' in text
    assert (
        'kubeloop_rollout_decisions_total{deployment="iris",kind="advance",reason="checks-pass"} 1.0' in text
    )


def test_run_returns_after_retiring_the_rolled_back_challenger(given: Given) -> None:
    controller = given.controller()
    controller.start(deployment="iris", model="iris-clf", version="2", spec=SPEC)
    controller.rollback("iris", reason="test")
    assert controller.run("iris").phase is Phase.ROLLED_BACK
    assert given.servers.retired == ["2"]


def test_start_starts_the_challengers_server_first_and_a_refused_start_starts_none(given: Given) -> None:
    controller = given.controller()
    with pytest.raises(KubeloopError, match="already the champion"):
        controller.start(deployment="iris", model="iris-clf", version="1", spec=SPEC)
    assert given.servers.started == []
    controller.start(deployment="iris", model="iris-clf", version="2", spec=SPEC)
    assert given.servers.started == ["2"] and given.servers.ready("2")


def test_the_old_champion_is_retired_by_whichever_controller_runs_after_its_warm_period(given: Given) -> None:
    given.controller().start(deployment="iris", model="iris-clf", version="2", spec=SPEC)
    state = given.controller().promote("iris")
    assert (
        state.retirement is not None and state.retirement.due_at == given.clock.now + SPEC.keep_previous_warm
    )
    given.clock.now += SPEC.keep_previous_warm - 1
    assert given.controller().tick("iris").retirement.done_at is None and given.servers.retired == []
    given.clock.now += 2
    later = given.controller()  # a new process (a supervisor), after the first controller exited
    assert later.tick("iris").settled and given.servers.retired == ["1"]
    with pytest.raises(KubeloopError, match="no longer kept warm"):
        later.rollback("iris")


def test_a_supervisor_retires_the_old_champion_once_the_controller_has_exited(given: Given) -> None:
    given.controller().start(deployment="iris", model="iris-clf", version="2", spec=SPEC)
    given.controller().promote("iris")
    assert (
        retire_when_due(store=given.store, servers=given.servers, deployment="iris", now=given.clock.now)
        is None
    )
    later = given.clock.now + SPEC.keep_previous_warm
    done = retire_when_due(
        store=FileStateStore(given.store.root.parent), servers=given.servers, deployment="iris", now=later
    )
    assert done is not None and done.settled and given.servers.retired == ["1"]
    given.clock.now = later + 1
    assert given.controller().tick("iris").settled and given.servers.retired == ["1"], "never twice"
