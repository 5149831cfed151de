"""The demo's labeler: a labeling tool that knows the truth, working through the labeling queue, late.

Every `period` seconds it reads the labeling queue the way `kubeloop labels queue` exports it (the
rows the deployment's policy chose, each once, leaving out those already labeled), keeps the rows
answered at least `delay` seconds ago (labels come after the answer), looks up their true class
(the traffic generator knows what it sent), and posts them to the gateway's label endpoint, as a
user's labeling tool would. Its own thread; `with Labeler(...)` starts and stops it.

It follows the prediction logs rather than rereading them: each turn parses only the lines written
since the last (`LogFollower`), and keeps the answers of the last `horizon` seconds. Rereading every
log each second cost the demo's process a tenth of a core by its end, taken from everything else.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from kubeloop.labels.parse import MAX_BATCH
from kubeloop.predlog.schema import PredictionRecord
from kubeloop.predlog.store import decode_record, log_files
from kubeloop.settings import Settings

Truth = Callable[[], Mapping[str, Any]]


@dataclass
class LogFollower:
    """The records appended to a deployment's log files since the last look (a line being written waits)."""

    root: Path
    deployment: str
    offsets: dict[Path, int] = field(default_factory=dict)

    def new_records(self) -> list[PredictionRecord]:
        """Every complete record written since the previous call (all of them on the first)."""
        records = []
        for path in log_files(self.root, self.deployment):
            with path.open("rb") as handle:
                handle.seek(self.offsets.get(path, 0))
                data = handle.read()
            complete = data[: data.rfind(b"\n") + 1]
            self.offsets[path] = self.offsets.get(path, 0) + len(complete)
            for line in complete.decode("utf-8").splitlines():
                try:
                    records.append(decode_record(line))
                except ValueError:
                    continue  # a foreign line: the readers skip it too
        return records


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
    _follower: LogFollower | None = None
    _recent: pd.DataFrame = field(default_factory=pd.DataFrame)

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

        since = now - self.horizon if self.since is None else self.since
        queue = chosen_rows(self._answers(since=since),
                            labeled=LocalLabelStore.from_settings(self.settings).labels(self.deployment))
        queue = queue[queue["timestamp"] <= now - self.delay]
        truth = self.truth()
        return [{"request_id": rid, "row": int(row), "label": truth[rid]}
                for rid, row in zip(queue["request_id"], queue["row"], strict=True) if rid in truth]

    def _answers(self, *, since: float) -> pd.DataFrame:
        """The logged answers made since `since`, as `read_predictions` gives them, read incrementally."""
        from kubeloop.predlog.reader import records_frame

        if self._follower is None:
            self._follower = LogFollower(root=self.settings.logs_dir, deployment=self.deployment)
        fresh = records_frame(self._follower.new_records())
        frames = [f for f in (self._recent, fresh) if not f.empty]
        recent = pd.concat(frames, ignore_index=True) if len(frames) > 1 else (frames[0] if frames else fresh)
        self._recent = recent[recent["timestamp"] >= since] if not recent.empty else recent
        return self._recent

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
