"""The controller with a quality check: labels arriving during shadow decide the challenger's fate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from controller_fakes import Clock, DialMetrics, FakeRegistry

from kubeloop.controller.loop import Controller, Ports
from kubeloop.rollout.file_store import FileStateStore
from kubeloop.rollout.state import Phase
from kubeloop.routing.base import Routes
from kubeloop.routing.memory import MemoryRouter, MemoryServers
from kubeloop.spec import RolloutSpec

SPEC = RolloutSpec.model_validate({
    "shadow": {"duration": 2, "minSamples": 1}, "canary": {"steps": [50], "interval": 2}, "failureLimit": 1,
    "checks": [{"name": "quality", "kind": "quality", "threshold": 0.01, "minLabels": 100}],
})


class Labels:
    """Labeled answers that grow by `per_tick` requests at every read, with set accuracies."""

    def __init__(self, champion: float, challenger: float, per_tick: int = 60) -> None:
        self.accuracy = {"1": champion, "2": challenger}
        self.per_tick = per_tick
        self.available = 0
        self.reads: list[tuple[float, float]] = []

    def __call__(self, since: float, until: float) -> pd.DataFrame:
        self.reads.append((since, until))
        self.available += self.per_tick
        rng = np.random.default_rng(0)
        truth = rng.integers(0, 3, self.available)
        frames = []
        for version, role in (("1", "champion"), ("2", "shadow")):
            right = rng.random(self.available) < self.accuracy[version]
            frames.append(pd.DataFrame({
                "request_id": [f"r{i}" for i in range(self.available)], "row": 0, "version": version,
                "role": role, "prediction": np.where(right, truth, (truth + 1) % 3), "label": truth,
                "weight": 1.0}))
        return pd.concat(frames, ignore_index=True)


def rollout(tmp_path: Path, labels: Labels) -> tuple[Controller, MemoryRouter, Clock]:
    router, clock = MemoryRouter(Routes(stable="1")), Clock()
    controller = Controller(Ports(router=router, servers=MemoryServers(router, running={"1"}),
                                  registry=FakeRegistry(), metrics=DialMetrics(),
                                  store=FileStateStore(tmp_path), labeled=labels, clock=clock))
    controller.start(deployment="iris", model="iris-clf", version="2", spec=SPEC)
    return controller, router, clock


def run(controller: Controller, clock: Clock, ticks: int) -> list[tuple[str, int, str]]:
    for _ in range(ticks):
        clock.now += 2
        if controller.tick("iris").phase.terminal:
            break
    history = controller.ports.store.require("iris").history
    return [(e.kind, e.weight, e.reason) for e in history]


def test_a_worse_challenger_is_held_while_labels_are_few_then_rolled_back_from_shadow(tmp_path: Path) -> None:
    labels = Labels(champion=0.95, challenger=0.5)
    controller, router, clock = rollout(tmp_path, labels)
    history = run(controller, clock, 6)
    assert history[0][0] == "hold" and "60 labeled pairs, fewer than the 100 needed" in history[0][2]
    assert history[-1][0] == "rollback" and "worse than the champion" in history[-1][2]
    assert all(weight == 0 for _, weight, _ in history), "it never took live traffic"
    assert router.routes == Routes(stable="1")
    assert {since for since, _ in labels.reads} == {1000.0}, "labels are read since the rollout began"


def test_a_better_challenger_leaves_shadow_and_is_promoted(tmp_path: Path) -> None:
    controller, router, clock = rollout(tmp_path, Labels(champion=0.7, challenger=0.95, per_tick=150))
    history = run(controller, clock, 6)
    assert [kind for kind, _, _ in history] == ["advance", "promote"], history
    assert history[0][2].startswith("shadow passed")
    (check,) = controller.ports.store.require("iris").history[0].checks
    assert check.verdict.value == "pass" and "not worse by more than 0.01" in check.reason
    assert router.routes == Routes(stable="2")
    assert controller.ports.store.require("iris").phase is Phase.PROMOTED
