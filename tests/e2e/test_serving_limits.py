"""The gateway and the model servers bound what a client can hold, and answer only what kubeloop needs.

Real processes on loopback: a KServe and a BentoML server of a registered iris model, and the
gateway routing to the KServe one, each with a 2 s header timeout (flags and KUBELOOP_SERVE_*).
Clients here are raw sockets, because the point is what a misbehaving client meets.
"""

from __future__ import annotations

import os
import re
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from kubeloop.local import processes
from kubeloop.local.processes import free_port, wait_ready
from kubeloop.serving.testing import register_iris
from kubeloop.settings import Settings, load_settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
MODEL = "iris-limits"
TOKEN = "limits-test-token"
HEADER_TIMEOUT = 2.0
HALF_HEAD = b"POST /v1/models/iris:predict HTTP/1.1\r\nhost: x\r\ncontent-type: appli"


@dataclass(frozen=True)
class Servers:
    settings: Settings
    kserve: processes.ProcessRecord
    bento: processes.ProcessRecord
    gateway: int
    gateway_pid: int


def _start_gateway(workdir: Path) -> subprocess.Popen[bytes]:
    port = free_port()
    with (workdir / "gateway.log").open("ab") as log:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "kubeloop.serving.gateway", "--port", str(port),
             "--header-timeout", str(HEADER_TIMEOUT), "--max-connections", "1000"],
            env={**os.environ, "KUBELOOP_GATEWAY_TOKEN": TOKEN}, stdout=log, stderr=subprocess.STDOUT,
        )
    wait_ready(f"http://127.0.0.1:{port}/healthz", process, timeout=30)
    process.port = port  # type: ignore[attr-defined]
    return process


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    workdir = tmp_path_factory.mktemp("limits")
    settings = load_settings({"KUBELOOP_HOME": str(workdir / "home")}).ensure_dirs()
    register_iris(settings, name=MODEL)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))  # this client opens 1,000+
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KUBELOOP_SERVE_HEADER_TIMEOUT", str(HEADER_TIMEOUT))
        kserve = processes.start_server(settings, deployment="iris", model=MODEL, version="1", timeout=180)
        bento = processes.start_server(settings, deployment="iris-bento", model=MODEL, version="1",
                                       runtime="bentoml", timeout=300)
    gateway = _start_gateway(workdir)
    try:
        route = {"model": MODEL, "stable": {"version": "1", "url": kserve.url}}
        httpx.put(f"http://127.0.0.1:{gateway.port}/admin/routes/iris", json=route,  # type: ignore[attr-defined]
                  headers={"authorization": f"Bearer {TOKEN}"}, timeout=10).raise_for_status()
        yield Servers(settings, kserve, bento, gateway.port, gateway.pid)  # type: ignore[attr-defined]
    finally:
        gateway.terminate()
        gateway.wait(timeout=30)
        for record in (kserve, bento):
            processes.stop(record)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def _answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _status(data: bytes) -> int:
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0


def _predict(port: int, path: str = "/v1/models/iris:predict") -> int:
    body = {"instances": [[5.1, 3.5, 1.4, 0.2]]}
    return httpx.post(f"http://127.0.0.1:{port}{path}", json=body, timeout=10).status_code


def test_half_sent_heads_are_cut_and_connections_beyond_the_limit_get_503(servers: Servers) -> None:
    held = [_connect(servers.gateway) for _ in range(1000)]
    try:
        for sock in held:
            sock.sendall(HALF_HEAD)
        started = time.monotonic()
        time.sleep(0.5)  # a connected socket may still wait in the backlog: let the gateway accept them all
        with _connect(servers.gateway) as extra:
            assert _status(_answer(extra)) == 503, "the 1,001st connection should be refused"
        answers = [_answer(sock) for sock in held]
        waited = time.monotonic() - started
    finally:
        for sock in held:
            sock.close()
    assert {_status(answer) for answer in answers} == {408}, "every half-sent request is answered 408"
    assert waited < HEADER_TIMEOUT + 10, f"the heads were cut only after {waited:.1f}s"
    assert _predict(servers.gateway) == 200, "the gateway serves again once they are gone"


@pytest.mark.parametrize("target", ["gateway", "kserve", "bento"])
def test_a_declared_body_over_the_limit_is_refused_before_it_is_sent(servers: Servers, target: str) -> None:
    port = {"gateway": servers.gateway, "kserve": servers.kserve.port, "bento": servers.bento.port}[target]
    model = "iris" if target == "gateway" else MODEL
    with _connect(port) as sock:
        started = time.monotonic()
        sock.sendall(f"POST /v1/models/{model}:predict HTTP/1.1\r\nhost: x\r\ncontent-type: "
                     "application/json\r\ncontent-length: 99999999999\r\n\r\n".encode())
        sock.settimeout(5)
        head = b""
        while b"}" not in head:  # the head and the JSON error may come in two writes
            chunk = sock.recv(4096)
            assert chunk, f"closed after {head!r}"
            head += chunk
        waited = time.monotonic() - started
    assert _status(head) == 413 and b"exceeds the limit" in head, head[:200]
    assert waited < 2.0, f"the refusal took {waited:.1f}s"


def test_the_kserve_server_cuts_a_half_sent_head(servers: Servers) -> None:
    with _connect(servers.kserve.port) as sock:
        sock.sendall(HALF_HEAD)
        started = time.monotonic()
        answer = _answer(sock)
        waited = time.monotonic() - started
    assert _status(answer) == 408 and waited < HEADER_TIMEOUT + 5, (answer[:100], waited)
    assert _predict(servers.kserve.port, f"/v1/models/{MODEL}:predict") == 200


def test_pipelined_requests_are_answered_in_order_within_bounded_memory(servers: Servers) -> None:
    # 64 KB per request (valid JSON padded with whitespace), small answers: 128 MB from one client.
    body = b'{"instances": [[5.1, 3.5, 1.4, 0.2]]' + b" " * 65_000 + b"}"
    count = 2000
    requests = b"".join(
        b"POST /v1/models/iris:predict HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b"x-request-id: r%d\r\ncontent-length: %d\r\n\r\n%s" % (i, len(body), body) for i in range(count)
    )
    gateway = psutil.Process(servers.gateway_pid)
    baseline, peak = gateway.memory_info().rss, [0]

    def watch(stop: threading.Event) -> None:
        while not stop.wait(0.05):
            peak[0] = max(peak[0], gateway.memory_info().rss)

    stop = threading.Event()
    watcher = threading.Thread(target=watch, args=(stop,), daemon=True)
    watcher.start()
    with _connect(servers.gateway) as sock:
        sock.settimeout(120)
        sender = threading.Thread(target=sock.sendall, args=(requests,), daemon=True)
        sender.start()
        received, answered, marker = bytearray(), 0, b"x-kubeloop-role"
        while answered < count:
            chunk = sock.recv(1 << 20)
            assert chunk, "the gateway closed the connection"
            # Only markers ending in this chunk: the tail kept is too short to hold a whole one.
            answered += (received[-(len(marker) - 1):] + chunk).count(marker)
            received += chunk
        sender.join(60)
    stop.set()
    watcher.join(5)
    ids = [int(m) for m in re.findall(rb"x-request-id: r(\d+)", bytes(received))]
    assert ids == list(range(count)), "pipelined requests must be answered in the order they came"
    assert bytes(received).count(b"HTTP/1.1 200") == count
    grown = (peak[0] - baseline) / 1e6
    assert grown < 48, f"the gateway grew {grown:.0f} MB while a client pipelined {len(requests) // 10**6} MB"


def test_the_model_repository_extension_refuses_an_unload_and_the_model_stays_ready(servers: Servers) -> None:
    base = servers.kserve.url
    unload = httpx.post(f"{base}/v2/repository/models/{MODEL}/unload", timeout=10)
    load = httpx.post(f"{base}/v2/repository/models/{MODEL}/load", timeout=10)

    assert unload.status_code == 403 and "disabled" in unload.json()["error"], unload.text
    assert load.status_code == 403
    assert httpx.get(f"{base}/v2/models/{MODEL}/ready", timeout=10).status_code == 200
    assert httpx.get(f"{base}/v2/models/{MODEL}", timeout=10).json()["name"] == MODEL
    assert _predict(servers.kserve.port, f"/v1/models/{MODEL}:predict") == 200
