"""Losses are counted and outages are never verdicts; a recycled pid is never signalled.

- a model server whose only prediction-log sink is down counts every record as lost, none as written;
- a drift check whose tracking server cannot serve artifacts fails naming the outage, where the same
  check with the server healthy says the version has no reference (a fault-injecting proxy stands in
  front of a real `mlflow server` with artifact serving; only artifact requests fail);
- `kubeloop serve stop` leaves alone a process that now holds a recorded server's pid.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import httpx
import pytest
from aiohttp import web
from rollout_harness import kubeloop, wait_for

from kubeloop.local import processes
from kubeloop.local.processes import free_port, wait_ready
from kubeloop.serving.testing import register_iris
from kubeloop.settings import HOME_ENV, TRACKING_ENV, Settings, load_settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
MODEL = "iris-losses"
ROW = {"instances": [[5.1, 3.5, 1.4, 0.2]]}


def _metric(text: str, name: str, labels: str = "") -> float:
    found = re.search(rf"^{name}{re.escape(labels)} ([0-9.e+]+)$", text, re.MULTILINE)
    assert found, f"{name}{labels} is not exported:\n{text}"
    return float(found.group(1))


def test_records_no_sink_accepted_are_counted_lost_not_written(settings: Settings, tmp_path: Path) -> None:
    register_iris(settings, name=MODEL)
    port, dead = free_port(), free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "kubeloop.serving.kserve_runtime", "--deployment", "iris",
             "--model", MODEL, "--ref", "1", "--port", str(port),
             "--log-sink-url", f"http://127.0.0.1:{dead}/events", "--no-log-to-store"],
            stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy())
    try:
        wait_ready(f"http://127.0.0.1:{port}/v2/health/ready", server, timeout=180, log_file=log)
        for _ in range(20):
            answer = httpx.post(f"http://127.0.0.1:{port}/v1/models/{MODEL}:predict", json=ROW, timeout=10)
            assert answer.status_code == 200

        def counted() -> str | None:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
            return text if _metric(text, "kubeloop_predlog_lost_total") >= 20 else None

        metrics = wait_for(counted, timeout=30, what="the lost records to be counted")
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert _metric(metrics, "kubeloop_predlog_lost_total") == 20
    assert _metric(metrics, "kubeloop_predlog_written_total") == 0
    assert _metric(metrics, "kubeloop_predlog_sink_failures_total", '{sink="CloudEventsSink"}') == 20


class FaultyProxy:
    """Forwards to an MLflow server; while `outage` is set, artifact requests get a 503."""

    def __init__(self, upstream: str) -> None:
        self.upstream, self.outage, self.port = upstream, False, free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def _forward(self, request: web.Request) -> web.Response:
        if self.outage and "mlflow-artifacts" in request.path:
            return web.Response(status=503, text="artifact store unavailable")
        async with aiohttp.ClientSession() as session, session.request(
            request.method, self.upstream + request.path_qs, data=await request.read(),
            headers={k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")},
        ) as answer:
            body = await answer.read()
            return web.Response(status=answer.status, body=body, content_type=answer.content_type)

    def __enter__(self) -> FaultyProxy:
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        runner = web.AppRunner(app)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(runner.setup(), self.loop).result(10)
        site = web.TCPSite(runner, "127.0.0.1", self.port)
        asyncio.run_coroutine_threadsafe(site.start(), self.loop).result(10)
        self._runner = runner
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def mlflow_behind_proxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultyProxy]:
    port = free_port()
    with (tmp_path / "mlflow.log").open("wb") as log:  # the server writes to its own copy of the file
        server = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
             "--workers", "1", "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}",
             "--artifacts-destination", str(tmp_path / "artifacts")],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        )
    try:
        wait_ready(f"http://127.0.0.1:{port}/health", server, timeout=240)
        with FaultyProxy(f"http://127.0.0.1:{port}") as proxy:
            monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
            monkeypatch.setenv(TRACKING_ENV, f"http://127.0.0.1:{proxy.port}")
            # MLflow retries a 503 seven times with exponential back-off (minutes); once is enough here.
            monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
            monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
            yield proxy
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_an_artifact_outage_fails_the_drift_check_instead_of_reporting_no_reference(
    mlflow_behind_proxy: FaultyProxy, tmp_path: Path
) -> None:
    settings = load_settings().ensure_dirs()
    register_iris(settings, name=MODEL)  # registered without a drift reference
    spec = tmp_path / "iris.yaml"
    spec.write_text("apiVersion: kubeloop.io/v1alpha1\nkind: ModelDeployment\nmetadata: {name: iris}\n"
                    f"spec:\n  model: {{name: {MODEL}, alias: champion}}\n")

    healthy = json.loads(kubeloop("drift", "check", "iris", "-f", str(spec), "--no-retrain", "--json",
                                  check=False).stdout)
    mlflow_behind_proxy.outage = True
    outage = json.loads(kubeloop("drift", "check", "iris", "-f", str(spec), "--no-retrain", "--json",
                                 check=False).stdout)

    assert healthy["result"]["status"] == "no_reference", healthy["result"]
    assert outage["result"]["status"] == "failed", outage["result"]
    reason = outage["result"]["reason"]
    assert "503" in reason or "unavailable" in reason, reason


def test_serve_stop_never_signals_a_process_that_took_a_recorded_pid(settings: Settings) -> None:
    register_iris(settings, name=MODEL)
    server = processes.start_server(settings, deployment="iris", model=MODEL, version="1", timeout=180)
    os.killpg(server.pid, signal.SIGKILL)
    os.waitpid(server.pid, 0)  # it is this process's child: reap it, so its pid is free to be taken
    sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
    newcomers = [subprocess.Popen(sleeper, start_new_session=True) for _ in range(2)]
    try:
        path = processes.serving_dir(settings) / "iris" / "v1.json"
        recorded = json.loads(path.read_text())
        started_at = recorded.pop("create_time", 1.0)
        path.write_text(json.dumps({**recorded, "pid": newcomers[0].pid}))  # pid only, as records once were
        other = processes.serving_dir(settings) / "iris" / "v2.json"  # the dead server's start time
        other.write_text(json.dumps({**recorded, "version": "2", "pid": newcomers[1].pid,
                                     "create_time": started_at}))
        stopped = kubeloop("serve", "stop", "iris", check=False)
        time.sleep(1.0)
        assert stopped.returncode == 0, stopped.stderr
        assert [p.poll() for p in newcomers] == [None, None], "a process holding a recorded pid was signalled"
        assert processes.server_records(settings, "iris") == [], "the stale records are forgotten"
    finally:
        for process in newcomers:
            process.kill()
            process.wait()
