"""A MetricSource that scrapes `/metrics` endpoints directly (local mode, no Prometheus).

A small background thread scrapes every target each `period` seconds and keeps the snapshots of the
last `keep` seconds, each sample labelled with its target as `instance` (as Prometheus does); a typed
query is evaluated on the snapshots of its window the way Prometheus evaluates its PromQL
(`kubeloop.metricsources.promql_eval` says exactly where the two differ).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence

import httpx
from prometheus_client.parser import text_string_to_metric_families

from kubeloop.metricsources.promql_eval import INSTANCE, Series, Snapshot, evaluate, first_value
from kubeloop.telemetry.queries import Query

Targets = Sequence[str] | Callable[[], Sequence[str]]
FailureHook = Callable[[str], None]  # called with the target's URL on each failed scrape


def parse_exposition(text: str, *, instance: str | None = None) -> dict[Series, float]:
    """Samples of a Prometheus text exposition keyed by (sample name, labels), `instance` added if given."""
    samples: dict[Series, float] = {}
    target = {INSTANCE: instance} if instance is not None else {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, frozenset({**sample.labels, **target}.items()))
            samples[key] = samples.get(key, 0.0) + float(sample.value)
    return samples


class ScrapeSource:
    """Direct scrapes of model servers' and the gateway's `/metrics`, evaluated like PromQL."""

    def __init__(
        self,
        targets: Targets,
        *,
        period: float = 1.0,
        keep: float = 900.0,
        timeout: float = 2.0,
        client: httpx.Client | None = None,
        on_failure: FailureHook | None = None,
    ) -> None:
        self._targets = targets
        self.period = period
        self.keep = keep
        self._client = client or httpx.Client(timeout=timeout)
        self._snapshots: list[Snapshot] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failures: dict[str, str] = {}  # target -> its last scrape's error, while it fails
        self.failed: Counter[str] = Counter()  # target -> failed scrapes, ever (none goes uncounted)
        self._on_failure = on_failure

    def start(self) -> ScrapeSource:
        """Scrape once now, then keep scraping in the background until `close()`."""
        self.scrape()
        self._thread = threading.Thread(target=self._run, name="kubeloop-scrape", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop the background scrapes and close the HTTP client."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.period + 5)
        self._client.close()

    def scrape(self, *, now: float | None = None) -> Snapshot:
        """Scrape every target once and keep the snapshot; an unreachable target is counted and skipped."""
        samples: dict[Series, float] = {}
        answered = set()
        for url in self._target_list():
            try:
                response = self._client.get(url)
                response.raise_for_status()
            except httpx.HTTPError as error:
                self._failed(url, error)
                continue
            self.failures.pop(url, None)
            answered.add(url)
            samples.update(parse_exposition(response.text, instance=url))
        snapshot = Snapshot(
            at=time.time() if now is None else now, samples=samples, targets=frozenset(answered)
        )
        with self._lock:
            self._snapshots.append(snapshot)
            cutoff = snapshot.at - self.keep
            while len(self._snapshots) > 2 and self._snapshots[0].at < cutoff:
                self._snapshots.pop(0)
        return snapshot

    def _failed(self, url: str, error: httpx.HTTPError) -> None:
        self.failures[url] = str(error) or type(error).__name__
        self.failed[url] += 1
        if self._on_failure is not None:
            self._on_failure(url)

    def query(self, query: Query) -> float | None:
        """Evaluate `query` at the newest snapshot over its own window; None when there is no data."""
        with self._lock:
            snapshots = list(self._snapshots)
        return first_value(evaluate(query, snapshots=snapshots))

    def _target_list(self) -> Sequence[str]:
        return self._targets() if callable(self._targets) else self._targets

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.scrape()
