"""BentoML workers are recycled after a number of requests without a request failing.

A real BentoML server (two workers, KUBELOOP_SERVE_MAX_REQUESTS=300) behind the real gateway, under
steady traffic until its workers have been replaced twice; and the same setting refused for a
single worker, naming it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from rollout_harness import wait_for

from kubeloop.demo.traffic import Traffic
from kubeloop.errors import SpecError
from kubeloop.local import processes
from kubeloop.routing.base import Routes
from kubeloop.routing.gateway import GatewayRouter
from kubeloop.serving.testing import iris_rows, register_iris
from kubeloop.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
MODEL = "iris-recycled"


def _workers(server: processes.ProcessRecord) -> set[int]:
    found = set()
    for child in psutil.Process(server.pid).children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "worker" in " ".join(child.cmdline()):
                found.add(child.pid)
        except psutil.Error:
            continue
    return found


def _recycled(server: processes.ProcessRecord) -> int:
    return Path(server.log_file).read_text(errors="replace").count("recycling this worker")


@pytest.fixture
def recycling(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    register_iris(settings, name=MODEL)
    monkeypatch.setenv("KUBELOOP_SERVE_MAX_REQUESTS", "300")
    yield
    for record in [*processes.server_records(settings), processes.gateway_record(settings)]:
        if record is not None:
            processes.stop(record)


@pytest.mark.usefixtures("recycling")
def test_workers_are_replaced_after_their_requests_and_no_request_fails(settings: Settings) -> None:
    server = processes.start_server(settings, deployment="iris", model=MODEL, version="1", runtime="bentoml",
                                    workers=2, timeout=300)
    gateway = processes.start_gateway(settings)
    GatewayRouter.from_settings(settings).set_routes("iris", Routes(stable="1"))
    seen = set(_workers(server))

    def replaced_twice() -> bool:
        seen.update(_workers(server))
        return _recycled(server) >= 2 and len(seen) >= 4

    with Traffic(f"{gateway.url}/v1/models/iris:predict", rows=iris_rows(), rate=60, threads=4) as load:
        wait_for(replaced_twice, timeout=420, poll=0.5, what="two workers to be recycled",
                 show=lambda: (load.total, _recycled(server), seen))
    assert load.failed == 0, f"requests failed while workers were replaced: {load.failures[:5]}"
    assert load.total > 600 and load.by_version == {"1": load.total}
    assert server.alive(), "the server itself keeps running; only its workers are replaced"


@pytest.mark.usefixtures("recycling")
def test_recycling_one_worker_or_a_kserve_server_is_refused_naming_the_settings(settings: Settings) -> None:
    with pytest.raises(SpecError, match=r"need KUBELOOP_SERVE_WORKERS >= 2 \(got 1\)"):
        processes.start_server(settings, deployment="iris", model=MODEL, version="1", runtime="bentoml",
                               workers=1, timeout=300)
    with pytest.raises(SpecError, match="the kserve runtime does not recycle its workers"):
        processes.start_server(settings, deployment="iris", model=MODEL, version="1", workers=2)
    assert processes.server_records(settings) == [], "nothing was started"
