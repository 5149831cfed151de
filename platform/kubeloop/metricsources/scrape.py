"""A MetricSource that scrapes `/metrics` endpoints directly (local mode, no Prometheus).

A small background thread scrapes every target each `period` seconds and keeps the snapshots of the
last `keep` seconds; a query is evaluated between the newest snapshot and the one a window earlier,
so rates and quantiles cover the same window as the PromQL they mirror.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Sequence

import httpx
from prometheus_client.parser import text_string_to_metric_families

from kubeloop.metricsources.promql_eval import Series, Snapshot, evaluate

Targets = Sequence[str] | Callable[[], Sequence[str]]


def parse_exposition(text: str) -> dict[Series, float]:
    """Samples of a Prometheus text exposition keyed by (sample name, labels)."""
    samples: dict[Series, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
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
    ) -> None:
        self._targets = targets
        self.period = period
        self.keep = keep
        self._client = client or httpx.Client(timeout=timeout)
        self._snapshots: list[Snapshot] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failures: dict[str, str] = {}

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
        """Scrape every target once and keep the snapshot; unreachable targets are noted and skipped."""
        samples: dict[Series, float] = {}
        for url in self._target_list():
            try:
                response = self._client.get(url)
                response.raise_for_status()
            except httpx.HTTPError as error:
                self.failures[url] = str(error) or type(error).__name__
                continue
            self.failures.pop(url, None)
            for key, value in parse_exposition(response.text).items():
                samples[key] = samples.get(key, 0.0) + value
        snapshot = Snapshot(at=time.time() if now is None else now, samples=samples)
        with self._lock:
            self._snapshots.append(snapshot)
            cutoff = snapshot.at - self.keep
            while len(self._snapshots) > 2 and self._snapshots[0].at < cutoff:
                self._snapshots.pop(0)
        return snapshot

    def query(self, query: str, *, window_seconds: float) -> float | None:
        """Evaluate `query` between the newest snapshot and the one `window_seconds` before it."""
        with self._lock:
            snapshots = list(self._snapshots)
        if len(snapshots) < 2:
            return None
        latest = snapshots[-1]
        times = [s.at for s in snapshots]
        index = bisect.bisect_right(times, latest.at - window_seconds) - 1
        base = snapshots[max(index, 0)]
        if base is latest:
            return None
        return evaluate(query, base=base, latest=latest)

    def _target_list(self) -> Sequence[str]:
        return self._targets() if callable(self._targets) else self._targets

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.scrape()
