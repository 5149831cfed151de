"""Dashboards end to end: a real Prometheus on loopback scrapes the local platform - the model servers,
the gateway, the rollout controller and the Pushgateway the drift check pushes to - while `kubeloop
deploy`, a shadow-then-canary `kubeloop rollout` under steady load and a `kubeloop drift check` run.
Then every query of every dashboard panel in the chart is run against it and must return data."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_harness import (
    LocalPrometheus,
    Traffic,
    local_prometheus,
    local_pushgateway,
    run_cli,
    wait_for,
)

from kubeloop.local import processes
from kubeloop.serving.testing import register_iris
from kubeloop.settings import HOME_ENV, PUSHGATEWAY_ENV, TRACKING_ENV, Settings, load_settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DASHBOARDS = Path(__file__).resolve().parents[2] / "charts" / "kubeloop" / "dashboards"
MODEL = "iris-observed"
GRAFANA_VARIABLES = {"$__rate_interval": "5s", "$__range": "5m", "$deployment": ".*"}
STRATEGY = """
shadow: {duration: 3s, minSamples: 10}
canary: {steps: [30, 60], interval: 3s}
checks:
  - {name: error-rate, kind: error-rate, threshold: 0.05, minSamples: 5}
  - {name: latency-p99, kind: latency-p99-ratio, threshold: 10, minSamples: 5}
  - {name: disagreement, kind: disagreement, threshold: 0.5, minSamples: 10}
failureLimit: 2
keepPreviousWarm: 1s
"""
# Panels allowed to stay empty here, each with the reason (no local process exports their metric, or
# only on rare events); every other panel must return data.
KNOWN_GAPS = {
    "Gateway mirror drops and retries": "the gateway creates these counters on the first drop or retry",
    "Retrains fired": "the drift check runs with --no-retrain (a retrain would start a training pipeline)",
    "Pipeline runs by outcome": "exported by the drift job when its policy starts a run; --no-retrain here",
}


@dataclass(frozen=True)
class Observed:
    """What the module ran, and the window in which Prometheus watched it."""

    prometheus: LocalPrometheus
    start: float
    end: float
    rollout: dict[str, Any]
    drift: subprocess.CompletedProcess[str]
    requests: int
    timings: dict[str, float]


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard, panel title, PromQL with Grafana's variables filled in) for every panel target."""
    found = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel["targets"]:
                expr = target["expr"]
                for variable, value in GRAFANA_VARIABLES.items():
                    expr = expr.replace(variable, value)
                found.append((board["title"], panel["title"], expr))
    return found


def _log_reference(settings: Settings, version: str) -> None:
    """The champion's drift reference (profile and sample), as a training run records it."""
    from mlflow.tracking import MlflowClient

    from kubeloop.drift.store import log_reference_profile
    from kubeloop.registry.names import REFERENCE_SAMPLE_PATH
    from kubeloop.serving.testing import IRIS_COLUMNS, iris_frame

    client = MlflowClient(tracking_uri=settings.tracking_uri)
    run_id = client.get_model_version(MODEL, version).run_id
    frame = iris_frame()[list(IRIS_COLUMNS)]
    sample = settings.home / "reference.parquet"
    frame.to_parquet(sample, index=False)
    client.log_artifact(run_id, str(sample), artifact_path=REFERENCE_SAMPLE_PATH.rpartition("/")[0])
    log_reference_profile(tracking_uri=settings.tracking_uri, run_id=run_id, features=frame)


def _targets(settings: Settings, *, controller: str, pushgateway: str) -> dict[str, list[str]]:
    gateway = processes.gateway_record(settings)
    servers = [r for r in processes.server_records(settings) if r.alive()]
    return {
        "gateway": [f"127.0.0.1:{gateway.port}"] if gateway else [],
        "model-server": [f"127.0.0.1:{r.port}" for r in servers],
        "rollout-controller": [controller],
        "pushgateway": [pushgateway.removeprefix("http://")],
    }


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    workdir = tmp_path_factory.mktemp("observe-e2e")
    with (
        pytest.MonkeyPatch.context() as patch,
        local_pushgateway(workdir) as pushgateway,
        local_prometheus(workdir / "prometheus") as prometheus,
    ):
        patch.setenv(HOME_ENV, str(workdir / "home"))
        patch.setenv(PUSHGATEWAY_ENV, pushgateway)
        patch.delenv(TRACKING_ENV, raising=False)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        settings = load_settings().ensure_dirs()
        clock = time.monotonic()
        timings: dict[str, float] = {}

        def lap(name: str) -> None:
            nonlocal clock
            timings[name], clock = round(time.monotonic() - clock, 1), time.monotonic()

        champion = register_iris(settings, name=MODEL)
        challenger = register_iris(settings, name=MODEL, seed=1, aliases=())
        for version in (champion, challenger):  # the drift check runs on whichever is champion by then
            _log_reference(settings, version)
        lap("register two versions")
        manifest = workdir / "iris.yaml"
        manifest.write_text(
            "apiVersion: kubeloop.io/v1alpha1\nkind: ModelDeployment\nmetadata: {name: iris}\n"
            f"spec:\n  model: {{name: {MODEL}}}\n"
            f"  serving: {{runtime: kserve, port: {processes.free_port()}}}\n"
            "  drift: {minRows: 20, window: 1h}\n"
        )
        (workdir / "strategy.yaml").write_text(STRATEGY)
        controller_address = f"127.0.0.1:{processes.free_port()}"
        controller: subprocess.Popen[bytes] | None = None
        start = time.time()
        try:
            run_cli("deploy", str(manifest))
            lap("kubeloop deploy")
            refresh = lambda: prometheus.set_targets(  # noqa: E731
                _targets(settings, controller=controller_address, pushgateway=pushgateway)
            )
            refresh()
            gateway = processes.gateway_record(settings)
            assert gateway is not None
            with Traffic(f"{gateway.url}/v1/models/iris:predict", rate=30) as load:
                wait_for(
                    lambda: {"gateway", "model-server"} <= prometheus.active_jobs(),
                    timeout=30,
                    what="Prometheus to scrape the gateway and the model server",
                )
                lap("first scrapes")
                started = run_cli(
                    "rollout",
                    "start",
                    "iris",
                    "--version",
                    challenger,
                    "--strategy",
                    str(workdir / "strategy.yaml"),
                )
                # Swap the controller `rollout start` spawned for one serving its metrics; it resumes
                # from the state file, as after any controller restart.
                spawned = re.search(r"pid\s+(\d+)", started.stdout + started.stderr)
                assert spawned, f"no controller pid in: {started.stderr}"
                _kill(int(spawned.group(1)))
                controller = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "kubeloop",
                        "rollout",
                        "run",
                        "iris",
                        "--metrics-port",
                        controller_address.rpartition(":")[2],
                    ],
                    stdout=(workdir / "controller.log").open("wb"),
                    stderr=subprocess.STDOUT,
                )

                def finished() -> dict[str, Any] | None:
                    refresh()
                    state = json.loads((settings.state_dir / "rollouts" / "iris.json").read_text())
                    return state if state["phase"] in ("promoted", "rolled-back", "aborted") else None

                lap("kubeloop rollout start")
                rollout = wait_for(finished, timeout=180, what="the rollout to end", poll=0.5)
                time.sleep(3)  # the final scrapes of the controller and the servers
                lap("rollout to promotion")
            drift = run_cli("drift", "check", "iris", "--no-html", "--no-retrain", "--json", check=False)
            refresh()
            time.sleep(4)  # two scrapes of the Pushgateway
            lap("kubeloop drift check")
            (workdir / "timings.json").write_text(json.dumps(timings))
            yield Observed(prometheus, start, time.time(), rollout, drift, load.total, timings)
        finally:
            if controller is not None:
                _kill(controller.pid)
                controller.wait(timeout=10)
            processes.stop_deployment(settings, "iris")
            processes.stop_gateway(settings)


def test_the_platform_ran_while_prometheus_watched(observed: Observed) -> None:
    print(f"phases (s): {observed.timings}")  # shown with -s; the module's time goes here
    assert observed.requests > 100
    assert observed.rollout["phase"] == "promoted", observed.rollout["history"][-1]
    assert observed.drift.returncode == 0, observed.drift.stderr
    outcome = json.loads(observed.drift.stdout)
    assert outcome["version"] == observed.rollout["challenger"]
    assert outcome["result"]["drift_share"] is not None, outcome["result"]["reason"]


def test_every_dashboard_panel_returns_data(observed: Observed) -> None:
    empty = {}
    for dashboard, title, expr in panel_queries():
        series = observed.prometheus.query_range(expr, start=observed.start, end=observed.end, step="2s")
        if not series:
            empty.setdefault(title, []).append(f"{dashboard}: {expr}")
    unexpected = {title: exprs for title, exprs in empty.items() if title not in KNOWN_GAPS}
    assert not unexpected, "panels without data:\n" + "\n".join(f"{t}: {e}" for t, e in unexpected.items())
    titles = {title for _, title, _ in panel_queries()}
    assert set(KNOWN_GAPS) <= titles, "KNOWN_GAPS names a panel that no longer exists"
