"""A KServe-runtime server with two forked workers: /metrics sums both, logs survive SIGTERM, a dead worker
brings the server down instead of leaving it at half capacity."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import psutil
import pytest

from kubeloop.local import processes
from kubeloop.predlog import read_predictions
from kubeloop.serving.testing import IRIS_COLUMNS, iris_frame, register_iris
from kubeloop.settings import Settings, load_settings
from kubeloop.telemetry import names

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
MODEL = "iris-workers"
REQUESTS = 240


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("workers-home")
    settings_ = load_settings({"KUBELOOP_HOME": str(home)}).ensure_dirs()
    register_iris(settings_, name=MODEL)
    return settings_


@pytest.fixture
def server(settings: Settings) -> Iterator[processes.ProcessRecord]:
    record = processes.start_server(settings, deployment="iris", model=MODEL, version="1", workers=2)
    try:
        yield record
    finally:
        processes.stop(record)


def _workers(record: processes.ProcessRecord) -> list[psutil.Process]:
    return psutil.Process(record.pid).children()


def _requests_total(text: str) -> float:
    pattern = re.compile(rf'^{names.REQUESTS_TOTAL}{{[^}}]*status="200"[^}}]*}} (\S+)$', re.MULTILINE)
    return sum(float(value) for value in pattern.findall(text))


def _send(url: str, rows: list[dict[str, float]]) -> None:
    with httpx.Client(timeout=10) as client:
        for row in rows:
            # A new connection per request, so the kernel hands them to both workers.
            answer = client.post(url, json={"instances": [row]}, headers={"connection": "close"})
            assert answer.status_code == 200, answer.text


def test_metrics_are_summed_over_the_workers_and_logs_survive_sigterm(
    settings: Settings, server: processes.ProcessRecord
) -> None:
    rows = iris_frame()[list(IRIS_COLUMNS)].head(REQUESTS // 4).to_dict("records")
    url = f"{server.url}/v1/models/{MODEL}:predict"
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: _send(url, rows), range(4)))
    assert len(_workers(server)) == 2

    scrapes = [_requests_total(httpx.get(f"{server.url}/metrics").text) for _ in range(6)]
    processes.stop(server)
    logged = read_predictions(settings, "iris")

    assert scrapes == [REQUESTS] * 6, "every scrape, whichever worker takes it, counts all requests"
    assert len(logged) == REQUESTS


def test_a_worker_that_dies_takes_the_server_down(server: processes.ProcessRecord) -> None:
    killed, other = _workers(server)

    os.kill(killed.pid, signal.SIGKILL)
    deadline, status = time.monotonic() + 30, None
    while status is None and time.monotonic() < deadline:
        pid, code = os.waitpid(server.pid, os.WNOHANG)  # the server is this test's child: reap it
        status = os.waitstatus_to_exitcode(code) if pid == server.pid else None
        time.sleep(0.2)

    assert status is not None, "the server kept running with one worker"
    assert status != 0
    assert not other.is_running(), "the other worker outlived the server"
