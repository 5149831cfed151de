"""The prediction logger: a bounded queue in front of the sinks, flushed in batches by one thread.

Servers call `submit(record)` on the request path; it never blocks: when the queue is full the record
is dropped and counted. A background thread wakes every `flush_interval`, drains the queue in batches
of up to `batch_size` records and hands them to every sink. A record no sink accepted is counted as
lost, and each sink's refusals are counted by sink, so an outage is never reported as written.
`close()` drains what is left.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
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
        flush_interval: float = 0.1,
    ) -> None:
        self.sinks = tuple(sinks)
        self.capacity = capacity
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.dropped = 0
        # Written: records at least one sink accepted; lost: records every sink refused.
        self.written = 0
        self.lost = 0
        self.sink_failures: dict[str, int] = {}
        # A deque, not a queue.Queue: append and popleft are atomic without a lock, and the flusher
        # polls instead of being notified, so a request never wakes another thread (a GIL hand-off).
        self._pending: deque[PredictionRecord] = deque()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="predlog-flush", daemon=True)
        self._thread.start()

    @property
    def closed(self) -> threading.Event:
        """Set once `close()` has been called."""
        return self._closed

    @property
    def depth(self) -> int:
        """Records waiting to be flushed."""
        return len(self._pending)

    def submit(self, record: PredictionRecord) -> bool:
        """Queue a record without blocking; False (and a drop counted) when the queue is full or closed."""
        if self._closed.is_set() or len(self._pending) >= self.capacity:
            self.dropped += 1
            return False
        self._pending.append(record)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Stop accepting records, flush everything queued, close the sinks."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._thread.join(timeout)
        for sink in self.sinks:
            sink.close()

    def _run(self) -> None:
        while True:
            closing = self._closed.wait(self.flush_interval)
            while self._pending:
                batch: list[PredictionRecord] = []
                while self._pending and len(batch) < self.batch_size:
                    batch.append(self._pending.popleft())
                self._flush(batch)
            if closing:
                return

    def _flush(self, batch: list[PredictionRecord]) -> None:
        """Hand the batch to every sink; it is written if one took it, lost (and counted) if none did."""
        accepted = 0
        for sink in self.sinks:
            try:
                taken = min(len(batch), sink.write(batch))
            except Exception:  # a failing sink must not stop logging to the others
                taken = 0
                log.exception("prediction-log sink %s failed", type(sink).__name__)
            self._count_failures(sink, len(batch) - taken)
            accepted = max(accepted, taken)
        self.written += accepted
        self.lost += len(batch) - accepted

    def _count_failures(self, sink: Sink, refused: int) -> None:
        if refused:
            name = type(sink).__name__
            self.sink_failures[name] = self.sink_failures.get(name, 0) + refused
