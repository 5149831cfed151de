"""The prediction logger: a bounded queue in front of the sinks, flushed in batches by one thread.

Servers call `submit(record)` on the request path; it never blocks: when the queue is full the record
is dropped and counted. A background thread drains up to `batch_size` records at a time (or whatever
arrived within `flush_interval`) and hands them to every sink. `close()` drains what is left.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from typing import Protocol

from kubeloop.predlog.schema import PredictionRecord

log = logging.getLogger(__name__)


class Sink(Protocol):
    """Where batches of records go: the file store, an HTTP collector."""

    def write(self, records: Sequence[PredictionRecord]) -> int:
        """Persist or send the batch; returns how many records were accepted."""

    def close(self) -> None:
        """Release files or connections."""


class PredictionLogger:
    """Bounded, non-blocking front of the sinks, with counters for depth, drops and writes."""

    def __init__(
        self,
        sinks: Sequence[Sink],
        *,
        capacity: int = 10_000,
        batch_size: int = 256,
        flush_interval: float = 0.2,
    ) -> None:
        self.sinks = tuple(sinks)
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.dropped = 0
        self.written = 0
        self.failed = 0
        self._queue: queue.Queue[PredictionRecord | None] = queue.Queue(maxsize=capacity)
        self._thread = threading.Thread(target=self._run, name="predlog-flush", daemon=True)
        self._closed = False
        self._thread.start()

    @property
    def depth(self) -> int:
        """Records waiting to be flushed."""
        return self._queue.qsize()

    def submit(self, record: PredictionRecord) -> bool:
        """Queue a record without blocking; False (and a drop counted) when the queue is full or closed."""
        if self._closed:
            self.dropped += 1
            return False
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1
            return False
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Stop accepting records, flush everything queued, close the sinks."""
        if self._closed:
            return
        self._closed = True
        # The sentinel must get in even when the queue is full: the flusher is draining it meanwhile.
        self._queue.put(None, timeout=timeout)
        self._thread.join(timeout)
        for sink in self.sinks:
            sink.close()

    def _run(self) -> None:
        stop = False
        while not stop:
            batch: list[PredictionRecord] = []
            try:
                item = self._queue.get(timeout=self.flush_interval)
            except queue.Empty:
                continue
            while item is not None:
                batch.append(item)
                if len(batch) >= self.batch_size:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            stop = item is None
            if batch:
                self._flush(batch)

    def _flush(self, batch: list[PredictionRecord]) -> None:
        for sink in self.sinks:
            try:
                sink.write(batch)
            except Exception:  # noqa: BLE001 - a failing sink must not stop logging to the others
                self.failed += len(batch)
                log.exception("prediction-log sink %s failed", type(sink).__name__)
        self.written += len(batch)
