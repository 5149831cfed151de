"""The bundled traffic generator: a few threads posting single rows to the gateway at a bounded rate.

One generator serves the demo (its rows can be swapped while it runs, which is how the demo shifts
the input distribution under live traffic; given each row's true class, it remembers the truth of
every answered request id for the demo's labeler), the rollout end-to-end tests (every answer is kept
with its status and the version that answered) and the rollout benchmark, which runs it as its own
process (`python -m kubeloop.demo.traffic`) so that the controller's work in the benchmark's process
cannot delay the client threads and show up as gateway latency.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

import httpx

VERSION_HEADER = "x-kubeloop-version"
REQUEST_ID_HEADER = "x-request-id"
LOOPBACK = ("127.0.0.1", "::1", "localhost")


class Sample(NamedTuple):
    """One request: when it was sent (epoch s), how long it took (s), its status, who answered, its id."""

    sent_at: float
    elapsed: float
    status: int
    version: str
    error: str = ""
    request_id: str = ""


@dataclass
class Traffic:
    """Steady requests to `url` at `rate` per second from `threads` workers until closed; loopback only.

    With `record`, every sample is also appended to that file as a JSON line as soon as it is taken.
    With `labels` (the true class of each row), `truth()` knows the true class of every answered request.
    """

    url: str
    rows: list[dict[str, Any]]
    rate: float = 30.0
    threads: int = 2
    record: IO[str] | None = None
    labels: list[Any] | None = None
    _truth: dict[str, Any] = field(default_factory=dict)
    _samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        host = httpx.URL(self.url).host
        if host not in LOOPBACK:
            raise ValueError(f"the bundled traffic stays on loopback; refusing to send to {host}")

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

    def use(self, rows: list[dict[str, Any]], labels: list[Any] | None = None) -> None:
        """Draw every later request from `rows` (the shift happens between two requests)."""
        with self._lock:
            self.rows, self.labels = rows, labels

    def truth(self) -> dict[str, Any]:
        """request id -> the true class of what it sent, for every answered request (with `labels`)."""
        with self._lock:
            return dict(self._truth)

    @property
    def samples(self) -> list[Sample]:
        """Every request so far, in the order they finished."""
        with self._lock:
            return list(self._samples)

    @property
    def statuses(self) -> Counter[int]:
        """Requests by HTTP status (599: no answer)."""
        return Counter(sample.status for sample in self.samples)

    @property
    def by_version(self) -> Counter[str]:
        """Requests by the model version that answered (`?` when none said)."""
        return Counter(sample.version for sample in self.samples)

    @property
    def failures(self) -> list[Sample]:
        """Requests that did not get a 200."""
        return [sample for sample in self.samples if sample.status != 200]

    @property
    def total(self) -> int:
        """Requests answered so far (any status)."""
        return len(self.samples)

    @property
    def failed(self) -> int:
        """Requests that did not get a 200."""
        return len(self.failures)

    def _run(self, rng: random.Random) -> None:
        period = self.threads / self.rate
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                started, sent_at = time.perf_counter(), time.time()
                with self._lock:
                    index = rng.randrange(len(self.rows))
                    row, truth = self.rows[index], self.labels[index] if self.labels else None
                sample = _send(client, self.url, row, sent_at=sent_at, started=started)
                with self._lock:
                    self._samples.append(sample)
                    if truth is not None and sample.status == 200:
                        self._truth[sample.request_id] = truth
                    if self.record is not None:
                        self.record.write(json.dumps(sample._asdict()) + "\n")
                        self.record.flush()
                self._stop.wait(max(0.0, period - sample.elapsed))


def _send(client: httpx.Client, url: str, row: dict[str, Any], *, sent_at: float, started: float) -> Sample:
    try:
        response = client.post(url, json={"instances": [row]})
        status, version = response.status_code, response.headers.get(VERSION_HEADER, "?")
        error = response.text[:200] if status != 200 else ""
        request_id = response.headers.get(REQUEST_ID_HEADER, "")
    except httpx.HTTPError as exc:
        status, version, error, request_id = 599, "?", str(exc) or type(exc).__name__, ""
    return Sample(sent_at, time.perf_counter() - started, status, version, error, request_id)


def read_samples(path: Path) -> list[Sample]:
    """The samples a recording generator has written so far (a line being written is skipped)."""
    samples = []
    for line in path.read_text().splitlines():
        try:
            samples.append(Sample(**json.loads(line)))
        except (ValueError, TypeError):
            continue
    return samples


def main(argv: list[str] | None = None) -> int:
    """Send rows from a JSON file (a list of objects) until SIGTERM or SIGINT, recording every sample."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--rows", type=Path, required=True, help="JSON file: a list of row objects")
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--record", type=Path, required=True, help="JSON lines file for the samples")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        rows = json.loads(args.rows.read_text())
    except (OSError, ValueError) as exc:
        parser.error(f"--rows {args.rows}: {exc}")
    if not isinstance(rows, list) or not rows or not all(isinstance(row, dict) for row in rows):
        parser.error(f"--rows {args.rows}: expected a non-empty JSON list of row objects")
    with args.record.open("a") as record:
        with Traffic(args.url, rows=rows, rate=args.rate, threads=args.threads, record=record):
            stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
