"""A bundled traffic generator: a few threads posting single rows to the gateway at a bounded rate.

It follows the rollout end-to-end harness's load (steady rate, every answer counted by status and by
the version that answered); the rows it draws from can be swapped while it runs, which is how the demo
shifts the input distribution under live traffic.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

VERSION_HEADER = "x-kubeloop-version"


@dataclass
class Traffic:
    """Steady requests to `url` at `rate` per second from `threads` workers until closed; loopback only."""

    url: str
    rows: list[dict[str, Any]]
    rate: float = 30.0
    threads: int = 2
    statuses: Counter[int] = field(default_factory=Counter)
    by_version: Counter[str] = field(default_factory=Counter)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        host = httpx.URL(self.url).host
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError(f"the demo's traffic stays on loopback; refusing to send to {host}")

    def __enter__(self) -> Traffic:
        for index in range(self.threads):
            worker = threading.Thread(target=self._run, args=(random.Random(index),), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers and wait for their last request."""
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=30)

    def use(self, rows: list[dict[str, Any]]) -> None:
        """Draw every later request from `rows` (the shift happens between two requests)."""
        with self._lock:
            self.rows = rows

    @property
    def total(self) -> int:
        """Requests answered so far (any status)."""
        with self._lock:
            return sum(self.statuses.values())

    @property
    def failed(self) -> int:
        """Requests that did not get a 200."""
        with self._lock:
            return sum(n for status, n in self.statuses.items() if status != 200)

    def _run(self, rng: random.Random) -> None:
        period = self.threads / self.rate
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                started = time.perf_counter()
                with self._lock:
                    row = rng.choice(self.rows)
                try:
                    response = client.post(self.url, json={"instances": [row]})
                    status, version = response.status_code, response.headers.get(VERSION_HEADER, "?")
                except httpx.HTTPError:
                    status, version = 599, "?"
                with self._lock:
                    self.statuses[status] += 1
                    self.by_version[version] += 1
                self._stop.wait(max(0.0, period - (time.perf_counter() - started)))
