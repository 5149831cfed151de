"""Local mode heals: routes follow restarted servers, the supervisor restarts what dies, `--wait` returns.

One home with a registered iris champion (v1), a good challenger (v2) and an erroring one (v3); one
deployment `iris` driven through the CLI as a user does, real KServe servers and the real gateway
on loopback, steady client traffic where it matters. `kubeloop down` stops everything at the end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from rollout_harness import isolated_home, kubeloop, register, rollout_state, wait_for

from kubeloop.demo.traffic import Traffic
from kubeloop.local import processes
from kubeloop.serving.testing import iris_rows
from kubeloop.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
MODEL = "iris-heal"
PREDICT = '{"instances": [[5.1, 3.5, 1.4, 0.2]]}'


@dataclass(frozen=True)
class Home:
    settings: Settings
    spec: Path
    workdir: Path
    versions: dict[str, str]

    def server(self, version: str) -> processes.ProcessRecord:
        (record,) = [r for r in processes.server_records(self.settings, "iris") if r.version == version]
        return record

    def status(self) -> dict[str, Any]:
        return json.loads(kubeloop("status", "--json").stdout)

    def predict_url(self) -> str:
        gateway = processes.gateway_record(self.settings)
        assert gateway is not None, "no gateway is running"
        return f"{gateway.url}/v1/models/iris:predict"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    workdir = tmp_path_factory.mktemp("healing")
    with isolated_home(workdir) as settings:
        kinds = ("champion", "good", "erroring")
        versions = {kind: register(settings, name=MODEL, kind=kind) for kind in kinds}
        spec = workdir / "iris.yaml"
        spec.write_text(
            "apiVersion: kubeloop.io/v1alpha1\nkind: ModelDeployment\nmetadata: {name: iris}\n"
            f"spec:\n  model: {{name: {MODEL}, alias: champion}}\n"
            f"  serving: {{runtime: kserve, port: {processes.free_port()}}}\n"
        )
        try:
            yield Home(settings, spec, workdir, versions)
        finally:
            kubeloop("down", check=False)
    assert not (settings.state_dir / "serving" / "supervisor.json").exists()
    assert processes.gateway_record(settings) is None
    assert not [r for r in processes.server_records(settings) if r.alive()]


def test_a_redeployed_deployment_routes_to_its_new_server_and_status_probes_it(home: Home) -> None:
    first = json.loads(kubeloop("deploy", str(home.spec), "--json").stdout)
    kubeloop("serve", "stop", "--all")
    again = json.loads(kubeloop("deploy", str(home.spec), "--json").stdout)
    assert again["server"] != first["server"], "the new server was expected on a new port"

    answer = kubeloop("predict", "iris", "--json", PREDICT, check=False)
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout)["predictions"] == ["setosa"]
    (row,) = json.loads(kubeloop("serve", "status", "--json").stdout)["servers"]
    assert (row["state"], row["url"], row["traffic"]) == ("running", again["server"], "stable 100%")

    server = home.server(home.versions["champion"])
    os.kill(server.pid, signal.SIGSTOP)  # alive but not answering: what a request would meet
    try:
        (frozen,) = json.loads(kubeloop("serve", "status", "--json").stdout)["servers"]
    finally:
        os.kill(server.pid, signal.SIGCONT)
    assert frozen["state"].startswith("unreachable: no answer within"), frozen


def _restart_entry(home: Home, kind: str) -> dict[str, Any]:
    """What the supervisor logged of a kind of process (read from its log: polling the CLI is slow)."""
    log = home.settings.state_dir / "supervisor" / "restarts.json"
    logged = json.loads(log.read_text()) if log.exists() else []
    entries = [e["history"] for e in logged if e["process"]["kind"] == kind]
    if not entries:
        return {"restarts": 0}
    return {"restarts": entries[0]["restarts"], "last_restart_at": entries[0]["last_at"]}


def _restarts(home: Home, kind: str) -> int:
    return int(_restart_entry(home, kind)["restarts"])


def _restarted_at(home: Home, kind: str) -> float:
    return float(_restart_entry(home, kind)["last_restart_at"])


def _kill_under_load(home: Home, pid: int, *, kind: str) -> tuple[Traffic, float, float]:
    """Kill -9 `pid` under steady traffic; returns the traffic, when it was killed, when it was back."""
    before = _restarts(home, kind)
    with Traffic(home.predict_url(), rows=iris_rows(), rate=20, threads=2) as load:
        wait_for(lambda: load.total > 20, timeout=30, what="traffic to flow")
        killed_at = time.time()
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: _restarts(home, kind) > before, timeout=240, what=f"the {kind} to be restarted")
        back_at = _restarted_at(home, kind)
        wait_for(lambda: any(s.status == 200 and s.sent_at > back_at for s in load.samples),
                 timeout=30, what="requests to succeed again")
        time.sleep(1.0)
    return load, killed_at, back_at


def test_a_killed_champion_is_restarted_rerouted_and_counted(home: Home) -> None:
    champion = home.server(home.versions["champion"])
    load, killed_at, back_at = _kill_under_load(home, champion.pid, kind="kserve")

    restart_time = back_at - killed_at
    late = [f for f in load.failures if f.sent_at > back_at + 0.2]
    early = [f for f in load.failures if f.sent_at < killed_at - 1.0]
    assert not late and not early, f"failures outside the restart ({restart_time:.1f}s): {(late + early)[:3]}"
    assert load.failed > 0, "requests sent while no server ran should have failed"
    after = [s for s in load.samples if s.sent_at > back_at + 0.2]
    assert after and all(s.status == 200 for s in after)
    restarted = home.server(home.versions["champion"])
    assert restarted.pid != champion.pid and restarted.alive()
    supervisor = home.status()["supervisor"]
    assert [(e["kind"], e["restarts"]) for e in supervisor["restarts"]] == [("kserve", 1)], supervisor
    metrics = httpx.get(supervisor["metrics"], timeout=5).text
    sample = f'kubeloop_local_restarts_total{{deployment="iris",kind="kserve",version="{restarted.version}"}}'
    assert f"{sample} 1.0" in metrics, metrics
    print(f"champion restarted in {restart_time:.1f}s; {load.failed} of {load.total} requests failed")


def test_a_killed_gateway_comes_back_on_its_port_with_current_routes(home: Home) -> None:
    gateway = processes.gateway_record(home.settings)
    assert gateway is not None
    load, killed_at, back_at = _kill_under_load(home, gateway.pid, kind="gateway")

    assert not [f for f in load.failures if f.sent_at > back_at + 0.2], load.failures[:3]
    restarted = processes.gateway_record(home.settings)
    assert restarted is not None and restarted.port == gateway.port and restarted.pid != gateway.pid
    assert ("gateway", 1) in [(e["kind"], e["restarts"]) for e in home.status()["supervisor"]["restarts"]]
    answer = kubeloop("predict", "iris", "--json", PREDICT, check=False)
    assert answer.returncode == 0, answer.stderr
    print(f"gateway restarted in {back_at - killed_at:.1f}s")


def _strategy(home: Home, name: str, interval: float, warm: str) -> str:
    path = home.workdir / f"{name}.yaml"
    path.write_text(
        f"shadow: null\ncanary: {{steps: [50], interval: {interval}s}}\nfailureLimit: 1\n"
        f"keepPreviousWarm: {warm}\nchecks:\n"
        "  - {name: error-rate, kind: error-rate, threshold: 0.05, minSamples: 5}\n"
    )
    return str(path)


def _wait_rollout(home: Home, version: str, strategy: str) -> tuple[int, float]:
    """`rollout start --wait` under traffic: its exit code and when it returned."""
    kubeloop("deploy", str(home.spec))  # a no-op when it runs (as after the tests above)
    with Traffic(home.predict_url(), rows=iris_rows(), rate=30, threads=2):
        done = subprocess.run(
            [sys.executable, "-m", "kubeloop", "rollout", "start", "iris", "--version", version,
             "--strategy", strategy, "--wait"],
            capture_output=True, text=True, timeout=300, check=False,
        )
        returned_at = time.time()
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, returned_at


def test_wait_returns_at_promotion_and_the_supervisor_retires_the_warm_champion(home: Home) -> None:
    good, champion = home.versions["good"], home.versions["champion"]
    interval = 3.0
    code, returned_at = _wait_rollout(home, good, _strategy(home, "good", interval, "6s"))

    state = rollout_state(home.settings, "iris")
    assert (code, state["phase"]) == (0, "promoted"), state["history"]
    assert returned_at - state["history"][-1]["at"] <= 2 * interval, "--wait outlived the decision"
    status = json.loads(kubeloop("rollout", "status", "iris", "--json").stdout)
    assert (status["champion"], status["previous"]) == (good, champion)
    assert home.server(champion).alive(), "the previous champion is kept warm for keepPreviousWarm"
    wait_for(lambda: (rollout_state(home.settings, "iris")["retirement"] or {}).get("doneAt"),
             timeout=60, what="the supervisor to retire the previous champion")
    assert champion not in {r.version for r in processes.server_records(home.settings, "iris")}


def test_wait_exits_non_zero_when_the_rollout_is_rolled_back(home: Home) -> None:
    erroring = home.versions["erroring"]
    code, _ = _wait_rollout(home, erroring, _strategy(home, "erroring", 2.0, "10m"))

    state = rollout_state(home.settings, "iris")
    assert (code, state["phase"]) == (3, "rolled-back"), state["history"]
    status = json.loads(kubeloop("rollout", "status", "iris", "--json").stdout)
    assert status["champion"] == home.versions["good"] and status["previous"] is None
