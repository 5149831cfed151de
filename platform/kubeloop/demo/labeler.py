"""The demo's labeler: a labeling tool that knows the truth, working through the labeling queue, late.

Every `period` seconds it reads the labeling queue the way `kubeloop labels queue` exports it (the
rows the deployment's policy chose, each once, leaving out those already labeled), keeps the rows
answered at least `delay` seconds ago (labels come after the answer), looks up their true class
(the traffic generator knows what it sent), and posts them to the gateway's label endpoint, as a
user's labeling tool would. Its own thread; `with Labeler(...)` starts and stops it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from kubeloop.labels.parse import MAX_BATCH
from kubeloop.settings import Settings

Truth = Callable[[], Mapping[str, Any]]


@dataclass
class Labeler:
    """Labels the chosen rows of `deployment` whose truth is known, `delay` s after their answer."""

    settings: Settings
    gateway: str  # the gateway's base URL
    deployment: str
    truth: Truth
    delay: float = 2.0
    period: float = 1.0
    # Predictions made since then are read (None: those of the last `horizon` seconds).
    since: float | None = None
    horizon: float = 300.0
    posted: int = 0
    statuses: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # turns that could not post (retried next turn)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Labeler:
        self._thread = threading.Thread(target=self._run, name="labeler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def due(self, *, now: float) -> list[dict[str, Any]]:
        """The labels to post now: chosen, not yet labeled, answered `delay` s ago, truth known."""
        from kubeloop.labels import LocalLabelStore, chosen_rows
        from kubeloop.predlog import read_predictions

        since = now - self.horizon if self.since is None else self.since
        predictions = read_predictions(self.settings, self.deployment, since=since)
        queue = chosen_rows(predictions, labeled=LocalLabelStore.from_settings(self.settings).labels(
            self.deployment))
        queue = queue[queue["timestamp"] <= now - self.delay]
        truth = self.truth()
        return [{"request_id": rid, "row": int(row), "label": truth[rid]}
                for rid, row in zip(queue["request_id"], queue["row"], strict=True) if rid in truth]

    def label_once(self, client: httpx.Client, *, now: float | None = None) -> int:
        """Post what is due, in batches the endpoint takes; how many labels were posted."""
        batch = self.due(now=time.time() if now is None else now)
        for start in range(0, len(batch), MAX_BATCH):
            response = client.post(f"{self.gateway}/v1/models/{self.deployment}/labels",
                                   json=batch[start:start + MAX_BATCH])
            self.statuses.append(response.status_code)
        self.posted += len(batch)
        return len(batch)

    def _run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self._stop.wait(self.period):
                try:
                    self.label_once(client)
                except (httpx.HTTPError, OSError, ValueError) as error:  # the next turn retries
                    self.failures.append(f"{type(error).__name__}: {error}")
