"""The log store, the bounded logger and the reader: what is written is read back by the column contract."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from kubeloop.predlog import LogStore, PredictionLogger, PredictionRecord, read_predictions
from kubeloop.predlog.schema import INPUT_PREFIX, META_COLUMNS, PREDICTION
from kubeloop.settings import Settings


def record(request_id: str, *, version: str = "1", role: str = "champion", ts: float | None = None,
           rows: int = 2, deployment: str = "iris") -> PredictionRecord:
    return PredictionRecord(
        request_id=request_id, timestamp=time.time() if ts is None else ts, deployment=deployment,
        model="iris-classifier", version=version, role=role,
        inputs=[{"a": float(i), "b": f"x{i}"} for i in range(rows)], outputs=[i % 2 for i in range(rows)],
        latency_ms=1.5, extra={"classes": [0, 1], "probabilities": [[0.25, 0.75]] * rows},
    )


def test_written_records_read_back_one_row_per_input_row(settings: Settings) -> None:
    with LogStore(settings.logs_dir) as store:
        store.write([record("r1"), record("r2", version="2", role="shadow", rows=1)])
    frame = read_predictions(settings, "iris")
    assert len(frame) == 3
    assert set(META_COLUMNS) | {PREDICTION, INPUT_PREFIX + "a", INPUT_PREFIX + "b"} <= set(frame.columns)
    assert frame["row"].tolist() == [0, 1, 0]
    assert frame["probability.1"].tolist() == [0.75, 0.75, 0.75]
    shadow = read_predictions(settings, "iris", version="2", role="shadow")
    assert shadow["request_id"].tolist() == ["r2"]


def test_time_window_is_half_open(settings: Settings) -> None:
    records = [record("old", ts=100.0), record("mid", ts=200.0), record("new", ts=300.0)]
    with LogStore(settings.logs_dir) as store:
        store.write(records)
    frame = read_predictions(settings.logs_dir, "iris", since=200.0, until=300.0)
    assert frame["request_id"].unique().tolist() == ["mid"]


def test_unknown_deployment_gives_empty_frame_with_the_contract_columns(settings: Settings) -> None:
    frame = read_predictions(settings, "nothing-here")
    assert frame.empty
    assert list(frame.columns) == [*META_COLUMNS, PREDICTION]


def test_rotation_by_size_and_age_and_torn_lines_skipped(tmp_path: Path) -> None:
    store = LogStore(tmp_path, max_bytes=100)
    for index in range(5):
        store.write([record(f"r{index}")])
    aged = LogStore(tmp_path / "aged", max_age=0.0)
    aged.write([record("a")])
    aged.write([record("b")])
    store.close()
    aged.close()
    files = sorted((tmp_path / "iris").glob("*.jsonl"))
    assert len(files) == 5
    assert len(list((tmp_path / "aged" / "iris").glob("*.jsonl"))) == 2
    with files[-1].open("a") as handle:
        handle.write('{"request_id": "torn"')
    assert read_predictions(tmp_path, "iris")["request_id"].nunique() == 5


def test_nan_inputs_are_stored_as_null(tmp_path: Path) -> None:
    bad = PredictionRecord(request_id="n", timestamp=1.0, deployment="iris", model="m", version="1",
                           role="champion", inputs=[{"a": float("nan")}], outputs=[1])
    with LogStore(tmp_path) as store:
        store.write([bad])
    assert read_predictions(tmp_path, "iris")["input.a"].isna().all()


def test_deployment_names_cannot_escape_the_store(tmp_path: Path) -> None:
    with LogStore(tmp_path) as store, pytest.raises(ValueError, match="invalid deployment"):
        store.write([record("x", deployment="../etc")])


class SlowSink:
    """A sink that blocks until released, to fill the queue."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.batches: list[int] = []
        self.closed = False

    def write(self, records: Sequence[PredictionRecord]) -> int:
        self.release.wait(5)
        self.batches.append(len(records))
        return len(records)

    def close(self) -> None:
        self.closed = True


def test_full_queue_drops_and_counts_instead_of_blocking_and_close_flushes() -> None:
    sink = SlowSink()
    logger = PredictionLogger([sink], capacity=10, batch_size=4, flush_interval=0.01)
    started = time.perf_counter()
    accepted = sum(logger.submit(record(str(i))) for i in range(50))
    assert time.perf_counter() - started < 0.5
    assert logger.dropped == 50 - accepted
    assert logger.dropped >= 30
    sink.release.set()
    logger.close()
    assert sum(sink.batches) == accepted == logger.written
    assert max(sink.batches) <= 4
    assert sink.closed
    assert logger.submit(record("late")) is False


class FailingSink:
    def write(self, records: Sequence[PredictionRecord]) -> int:
        raise OSError("disk full")

    def close(self) -> None:
        return None


def test_a_failing_sink_does_not_stop_the_others(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    logger = PredictionLogger([FailingSink(), store], flush_interval=0.01)
    logger.submit(record("ok"))
    logger.close()
    assert logger.sink_failures == {"FailingSink": 1}
    assert (logger.written, logger.lost) == (1, 0)
    assert read_predictions(tmp_path, "iris")["request_id"].unique().tolist() == ["ok"]


def test_a_batch_every_sink_refused_is_lost_not_written() -> None:
    logger = PredictionLogger([FailingSink(), FailingSink()], flush_interval=0.01)
    for i in range(5):
        logger.submit(record(str(i)))
    logger.close()
    assert (logger.written, logger.lost) == (0, 5)
    assert logger.sink_failures == {"FailingSink": 10}
