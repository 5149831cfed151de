"""A real Prometheus server (and Pushgateway) on loopback for end-to-end tests, with file-based discovery
fed by a thread that follows a KUBELOOP_HOME's process records, so the servers, the gateway and the
rollout controllers that a run starts and stops are scraped within a second of appearing; and the
dashboards' panel queries, as Grafana would send them."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from kubeloop.controller.local import controller_records
from kubeloop.devtools import PUSHGATEWAY, find_tool
from kubeloop.local import processes
from kubeloop.local.processes import free_port, wait_ready
from kubeloop.settings import Settings

DASHBOARDS = Path(__file__).resolve().parents[2] / "charts" / "kubeloop" / "dashboards"
GRAFANA_VARIABLES = {"$__rate_interval": "5s", "$__range": "5m", "$deployment": ".*"}


@dataclass(frozen=True)
class LocalPrometheus:
    """A running Prometheus: its URL and the discovery file its targets are read from."""

    url: str
    targets_file: Path

    def set_targets(self, targets: Mapping[str, list[str]]) -> None:
        """Replace the scraped targets: job name -> ["127.0.0.1:port", ...]."""
        groups = [
            {"targets": sorted(set(addrs)), "labels": {"job": job}} for job, addrs in targets.items() if addrs
        ]
        scratch = self.targets_file.with_suffix(".tmp")
        scratch.write_text(json.dumps(groups))
        scratch.replace(self.targets_file)  # atomic, so Prometheus never reads half a file

    def query_range(self, expr: str, *, start: float, end: float, step: str = "1s") -> list[dict[str, Any]]:
        """The series a range query returns (raises on a PromQL error)."""
        response = httpx.get(
            f"{self.url}/api/v1/query_range",
            params={"query": expr, "start": start, "end": end, "step": step},
            timeout=30,
        )
        body = response.json()
        assert body.get("status") == "success", f"{expr}: {body}"
        return body["data"]["result"]

    def active_jobs(self) -> set[str]:
        """Jobs with at least one target that answered its last scrape."""
        targets = httpx.get(f"{self.url}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
        return {t["labels"]["job"] for t in targets if t["health"] == "up"}


class Discovery:
    """A thread rewriting Prometheus' targets from a home's process records until the block ends.

    Jobs: `gateway`, `model-server`, `rollout-controller` (each from its record, live ones only) and
    the `pushgateway` given. `seen` keeps every address each job ever had; `error` what stopped it.
    """

    def __init__(
        self, prometheus: LocalPrometheus, settings: Settings, *, pushgateway: str, period: float = 0.25
    ) -> None:
        self.prometheus, self.settings, self.period = prometheus, settings, period
        self.pushgateway = pushgateway.removeprefix("http://")
        self.seen: dict[str, set[str]] = {}
        self.error: Exception | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prometheus-discovery", daemon=True)

    def __enter__(self) -> Discovery:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def targets(self) -> dict[str, list[str]]:
        """What runs now, by job."""
        gateway = processes.gateway_record(self.settings)
        return {
            "gateway": [f"127.0.0.1:{gateway.port}"] if gateway else [],
            "model-server": [
                f"127.0.0.1:{r.port}" for r in processes.server_records(self.settings) if r.alive()
            ],
            "rollout-controller": [f"127.0.0.1:{r.port}" for r in controller_records(self.settings)],
            "pushgateway": [self.pushgateway],
        }

    def _run(self) -> None:
        written: dict[str, list[str]] = {}
        while not self._stop.is_set():
            try:
                current = self.targets()
                if current != written:
                    self.prometheus.set_targets(current)
                    written = current
                    for job, addresses in current.items():
                        self.seen.setdefault(job, set()).update(addresses)
            except Exception as error:  # noqa: BLE001 - kept for the test to report; discovery stops
                self.error = error
                return
            self._stop.wait(self.period)


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard, panel title, PromQL with Grafana's variables filled in) for every panel target."""
    found = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel.get("targets", []):  # a row has none
                expr = target["expr"]
                for variable, value in GRAFANA_VARIABLES.items():
                    expr = expr.replace(variable, value)
                found.append((board["title"], panel["title"], expr))
    return found


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@contextmanager
def local_prometheus(workdir: Path, *, scrape_interval: str = "1s") -> Iterator[LocalPrometheus]:
    """Prometheus on a free loopback port, scraping whatever `set_targets` names; stopped on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    targets = workdir / "targets.json"
    targets.write_text("[]")
    config = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "scrape_configs": [
            {
                "job_name": "kubeloop",
                # The Pushgateway carries the pushing job's labels (deployment, ...); keep them.
                "honor_labels": True,
                "file_sd_configs": [{"files": [str(targets)], "refresh_interval": "1s"}],
            }
        ],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (workdir / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            str(find_tool("prometheus")),
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=1h",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        wait_ready(f"{url}/-/ready", process, timeout=60, log_file=workdir / "prometheus.log")
        yield LocalPrometheus(url=url, targets_file=targets)
    finally:
        _stop(process)
        log.close()


@contextmanager
def local_pushgateway(workdir: Path) -> Iterator[str]:
    """A Pushgateway on a free loopback port (for batch jobs such as the drift check); its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (workdir / "pushgateway.log").open("wb")
    process = subprocess.Popen(
        [str(find_tool(PUSHGATEWAY)), f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        wait_ready(f"{url}/-/ready", process, timeout=60, log_file=workdir / "pushgateway.log")
        yield url
    finally:
        _stop(process)
        log.close()


def wait_for(predicate: Any, *, timeout: float, what: str, poll: float = 0.5) -> Any:
    """Poll until `predicate()` is truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
