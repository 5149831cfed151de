"""A rollout controller serves its metrics on loopback and records where, for status and Prometheus."""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from kubeloop.cli import main
from kubeloop.controller import local
from kubeloop.local.overview import deployments_status
from kubeloop.local.processes import ProcessRecord, save_deployment, write_record
from kubeloop.rollout.state import Phase
from kubeloop.settings import Settings
from kubeloop.spec import parse_deployment


@pytest.fixture(autouse=True)
def _keep_signal_handlers() -> Iterator[None]:
    """The controller loop installs SIGTERM/SIGINT handlers; put pytest's back."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def run_cli(*args: str) -> int:
    with pytest.raises(SystemExit) as exited:
        main([*args])
        raise SystemExit(0)
    return int(exited.value.code or 0)


def fake_loop(monkeypatch: pytest.MonkeyPatch, seen: dict[str, Any]) -> None:
    """A controller whose run() looks at its own record and metrics endpoint, then ends the rollout."""

    class Controller:
        def run(self, deployment: str, *, stop: object) -> Any:
            (record,) = local.controller_records(seen["settings"], deployment)
            seen["record"] = record
            seen["pid"] = local.live_pid(seen["settings"], deployment)
            seen["metrics"] = httpx.get(f"{record.url}/metrics", timeout=5)
            return SimpleNamespace(phase=Phase.PROMOTED, history=[])

    @contextmanager
    def running(settings: Settings, deployment: str, *, telemetry: object = None) -> Iterator[Controller]:
        telemetry.weight.labels(deployment).set(25)  # type: ignore[attr-defined]
        yield Controller()

    monkeypatch.setattr(local, "running_controller", running)


def test_a_controller_serves_its_metrics_on_a_free_port_and_records_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {"settings": settings}
    fake_loop(monkeypatch, seen)

    assert run_cli("rollout", "run", "iris") == 0

    record = seen["record"]
    assert record.kind == "rollout-controller" and record.pid == os.getpid() == seen["pid"]
    assert record.port > 0 and record.deployment == "iris"
    assert seen["metrics"].status_code == 200
    assert 'kubeloop_rollout_canary_weight{deployment="iris"} 25.0' in seen["metrics"].text
    assert local.controller_records(settings) == [] and local.live_pid(settings, "iris") is None
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{record.url}/metrics", timeout=2)


def test_the_metrics_port_flag_still_picks_the_port(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {"settings": settings}
    fake_loop(monkeypatch, seen)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    assert run_cli("rollout", "run", "iris", "--metrics-port", str(port)) == 0
    assert seen["record"].port == port


def test_a_taken_metrics_port_is_a_clear_error(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_loop(monkeypatch, {"settings": settings})
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = run_cli("rollout", "run", "iris", "--metrics-port", str(port))
    assert code == 1 and f"cannot serve the rollout metrics on port {port}" in capsys.readouterr().err
    assert local.live_pid(settings, "iris") is None


def test_status_lists_a_live_controller_and_ignores_a_dead_one(settings: Settings) -> None:
    save_deployment(
        settings, parse_deployment({"metadata": {"name": "iris"}, "spec": {"model": {"name": "m"}}})
    )
    live = ProcessRecord(kind="rollout-controller", pid=os.getpid(), port=9464, deployment="iris")
    write_record(local.record_file(settings, "iris"), live)
    write_record(
        local.record_file(settings, "gone"),
        ProcessRecord(kind="rollout-controller", pid=2**22 + 7, port=9465, deployment="gone"),
    )

    _, (iris,) = deployments_status(settings)

    assert iris["controller"] == {"pid": os.getpid(), "metrics": "http://127.0.0.1:9464/metrics"}
    assert local.controller_records(settings) == [live]
