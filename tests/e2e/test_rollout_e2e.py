"""Rollouts end to end: real model servers behind the real gateway, a real MLflow registry, steady load.

One deployment `iris` (champion: version 1) is rolled out to, in turn, a challenger trained on
shuffled labels, one that errors on long petals, a good one whose server is killed mid-canary and
the same good one again with the controller killed mid-canary. Every rollout goes through the CLI.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from rollout_harness import iris_deployment, kubeloop, register, rollout_state, wait_for

from kubeloop.cli import main
from kubeloop.demo.traffic import Traffic
from kubeloop.local import processes
from kubeloop.registry.mlflow_registry import MlflowRegistry
from kubeloop.registry.names import TAG_ROLLOUT_OUTCOME, TAG_ROLLOUT_REASON
from kubeloop.serving.testing import iris_rows
from kubeloop.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MODEL = "iris-clf"
TERMINAL = ("promoted", "rolled-back", "aborted")
CHECKS = """
checks:
  - {name: error-rate, kind: error-rate, threshold: 0.05, minSamples: 5}
  - {name: latency-p99, kind: latency-p99-ratio, threshold: 10, minSamples: 5}
  - {name: disagreement, kind: disagreement, threshold: 0.1, minSamples: 20}
  - {name: prediction-shift, kind: prediction-shift, threshold: 0.3, minSamples: 20}
keepPreviousWarm: 1s
"""


class World:
    """The deployment, its registry and gateway, and where to write strategies."""

    def __init__(self, settings: Settings, workdir: Path, versions: dict[str, str], predict_url: str) -> None:
        self.settings, self.workdir, self.versions, self.predict_url = (
            settings,
            workdir,
            versions,
            predict_url,
        )
        self.registry = MlflowRegistry(tracking_uri=settings.tracking_uri)

    def strategy(self, name: str, body: str) -> str:
        path = self.workdir / f"{name}.yaml"
        path.write_text(body + CHECKS)
        return str(path)

    def state(self) -> dict:
        return rollout_state(self.settings, "iris")

    def state_if_started(self) -> dict:
        """The rollout state, or {} while the controller has not written its first one yet."""
        try:
            return self.state()
        except FileNotFoundError:
            return {}

    def finished(self, timeout: float = 120) -> dict:
        return wait_for(
            lambda: (s := self.state_if_started()).get("phase") in TERMINAL and not s.get("pending") and s,
            timeout=timeout,
            what="the rollout to end",
        )

    def aliases(self) -> dict[str, str]:
        return dict(self.registry.get_model(MODEL).aliases)

    def tags(self, version: str) -> dict[str, str]:
        return dict(self.registry.get_version(MODEL, version).tags)

    def start_in_background(self, version: str, strategy: str, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kubeloop",
                "rollout",
                "start",
                "iris",
                "--version",
                version,
                "--strategy",
                strategy,
                *args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def load(self) -> Traffic:
        """Steady client traffic through the gateway; every answer is kept."""
        return Traffic(self.predict_url, rows=iris_rows(), rate=40, threads=2)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir = tmp_path_factory.mktemp("rollout-e2e")

    def register_all(settings: Settings) -> dict[str, str]:
        kinds = ("champion", "good", "shuffled", "erroring")
        return {kind: register(settings, name=MODEL, kind=kind) for kind in kinds}

    with iris_deployment(workdir, model=MODEL, register_all=register_all) as (settings, versions, gateway):
        # Start the challengers' servers together now; `rollout start` finds them running.
        with ThreadPoolExecutor(max_workers=3) as pool:
            list(
                pool.map(
                    lambda kind: processes.start_server(
                        settings, deployment="iris", model=MODEL, version=versions[kind]
                    ),
                    ("shuffled", "erroring", "good"),
                )
            )
        yield World(settings, workdir, versions, f"{gateway}/v1/models/iris:predict")


def test_a_challenger_that_answers_differently_is_stopped_in_shadow(world: World) -> None:
    shuffled = world.versions["shuffled"]
    strategy = world.strategy(
        "shadow", "shadow: {duration: 2s, minSamples: 20}\ncanary: {interval: 2s}\nfailureLimit: 1\n"
    )
    with world.load() as load:
        args = ("rollout", "start", "iris", "--version", shuffled, "--strategy", strategy, "--wait")
        started = kubeloop(*args, check=False)
        state = world.finished()
    assert started.returncode == 3, "--wait exits 3 for a rolled-back rollout"
    assert state["phase"] == "rolled-back" and "disagreement" in state["history"][-1]["reason"]
    assert all(entry["weight"] == 0 for entry in state["history"]), "no step may send it live traffic"
    assert load.by_version.get(shuffled, 0) == 0, f"the shuffled model answered clients: {load.by_version}"
    assert load.total > 50 and load.failed == 0, load.failures[:5]
    assert world.aliases()["champion"] == world.versions["champion"]
    assert world.tags(shuffled)[TAG_ROLLOUT_OUTCOME] == "rolled-back"


def test_an_erroring_challenger_is_rolled_back_within_two_intervals(world: World) -> None:
    erroring = world.versions["erroring"]
    strategy = world.strategy("errors", "shadow: null\ncanary: {steps: [25, 50], interval: 2s}\n")
    with world.load() as load:
        kubeloop("rollout", "start", "iris", "--version", erroring, "--strategy", strategy, "--wait",
                 check=False)
        state = world.finished()
        time.sleep(1.0)
    history = state["history"]
    failed = [
        e for e in history if any(c["verdict"] == "fail" and c["name"] == "error-rate" for c in e["checks"])
    ]
    assert state["phase"] == "rolled-back" and failed, history
    assert history[-1]["at"] - failed[0]["at"] <= 2 * 2.0 + 0.5, "rollback came later than two intervals"
    assert {failure.version for failure in load.failures} <= {erroring}, "only the challenger may fail"
    routed_away_at = history[-1]["routed_at"]
    assert routed_away_at - history[-1]["at"] < 1.0, (
        "traffic left the challenger more than 1 s after the decision"
    )
    late = [f for f in load.failures if f.sent_at > routed_away_at + 0.1]
    assert not late, f"requests sent after the rollback still failed: {late[:3]}"
    assert "error-rate" in world.tags(erroring)[TAG_ROLLOUT_REASON]
    assert world.aliases()["champion"] == world.versions["champion"]


def test_killing_the_challenger_server_mid_canary_rolls_back_without_failed_requests(world: World) -> None:
    good = world.versions["good"]
    strategy = world.strategy(
        "kill-server", "shadow: null\ncanary: {steps: [50, 75], interval: 3s}\nfailureLimit: 1\n"
    )
    with world.load() as load:
        starting = world.start_in_background(good, strategy, "--wait")
        wait_for(lambda: load.by_version.get(good, 0) > 20, timeout=90, what="the challenger to answer")
        (server,) = [r for r in processes.server_records(world.settings, "iris") if r.version == good]
        killed_at = time.time()
        os.killpg(server.pid, signal.SIGKILL)
        state = world.finished()
        assert starting.wait(timeout=60) == 3, "--wait exits 3 for a rolled-back rollout"
    assert state["phase"] == "rolled-back" and "error-rate" in state["history"][-1]["reason"], state[
        "history"
    ]
    # Refused connections are retried on stable; only a request the challenger was answering when it
    # died (its connection closed mid-exchange) may fail, as with any proxy without request replay.
    in_flight = [f for f in load.failures if f.version == good and f.sent_at <= killed_at + 0.25]
    assert len(load.failures) == len(in_flight) <= 3, f"clients saw failures: {load.failures[:5]}"
    assert world.aliases()["champion"] == world.versions["champion"]


def test_a_good_challenger_is_promoted_and_a_killed_controller_resumes_at_the_same_step(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    good, champion = world.versions["good"], world.versions["champion"]
    strategy = world.strategy(
        "good", "shadow: {duration: 2s, minSamples: 20}\ncanary: {steps: [10, 25, 50], interval: 3s}\n"
    )
    with world.load() as load:
        starting = world.start_in_background(good, strategy, "--wait")
        try:
            wait_for(
                lambda: world.state_if_started().get("weight") == 25,
                timeout=120,
                what="the canary to reach 25%",
                show=lambda: [
                    (e["kind"], e["weight"], e["reason"]) for e in world.state_if_started().get("history", [])
                ],
            )
        finally:
            starting.kill()  # SIGKILL: the controller gets no clean-up
            starting.wait(timeout=30)
        killed = world.state()
        code, err = cli(capsys, "rollout", "start", "iris", "--version", world.versions["shuffled"])
        assert code == 1 and "already has a rollout of version" in err, err
        time.sleep(max(0.0, 3.5 - (time.time() - killed["history"][-1]["at"])))
        assert world.state()["weight"] == 25 and len(world.state()["history"]) == len(killed["history"])
        restarted = subprocess.Popen(
            [sys.executable, "-m", "kubeloop", "rollout", "run", "iris"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            state = world.finished()
            restarted.wait(timeout=60)
        finally:
            restarted.kill()
            restarted.wait(timeout=30)
    moves = [(e["kind"], e["weight"]) for e in state["history"] if e["kind"] != "hold"]
    assert moves == [("advance", 10), ("advance", 25), ("advance", 50), ("promote", 100)], moves
    resumed = state["history"][len(killed["history"]) :]
    assert resumed and resumed[0]["weight"] in (25, 50), "the restarted controller went on from 25%"
    assert load.failed == 0, f"clients saw failures: {load.failures[:5]}"
    assert load.by_version.get(good, 0) > 0
    assert world.aliases() == {"champion": good, "previous": champion}
    assert world.tags(good)[TAG_ROLLOUT_OUTCOME] == "promoted"


def test_rollout_of_a_missing_version_is_refused(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = cli(capsys, "rollout", "start", "iris", "--version", "99")
    assert code == 1 and "version 99 not found" in err and "Traceback" not in err, err


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """The CLI in this process (for quick refusals): exit code and stderr."""
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    return int(exited.value.code or 0), capsys.readouterr().err
