"""A real Prometheus server (and Pushgateway) on loopback for end-to-end tests, with file-based discovery
so targets that appear mid-test (a challenger's server) are scraped within a second; plus steady traffic
and the CLI, as a user drives them."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from kubeloop.devtools import PUSHGATEWAY, find_tool
from kubeloop.local.processes import free_port, wait_ready


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


def run_cli(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The `kubeloop` CLI, as a user runs it (in the test's environment)."""
    done = subprocess.run(
        [sys.executable, "-m", "kubeloop", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"kubeloop {' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done


class Traffic:
    """Iris predictions at a bounded rate from one thread until the block ends; answers are counted."""

    def __init__(self, url: str, *, rate: float = 30.0) -> None:
        self.url, self.period = url, 1.0 / rate
        self.statuses: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    def _run(self) -> None:
        from kubeloop.serving.testing import IRIS_COLUMNS, iris_frame

        rows = iris_frame()[list(IRIS_COLUMNS)].to_dict("records")
        with httpx.Client(timeout=30) as client:
            for index in itertools.count():
                if self._stop.wait(self.period):
                    return
                try:
                    status = client.post(self.url, json={"instances": [rows[index % len(rows)]]}).status_code
                except httpx.HTTPError:
                    status = 599
                self.statuses[status] = self.statuses.get(status, 0) + 1
