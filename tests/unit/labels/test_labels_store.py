"""The local label store: idempotent puts with counts, labels kept before their prediction, late joins."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from kubeloop.labels import Label, LocalLabelStore, one_row_each
from kubeloop.predlog import LogStore, PredictionRecord

T0 = 1_700_000_000.0
HOUR = 3600.0


class Clock:
    """A settable clock (simulated time)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def record(request_id: str, *, role: str = "champion", version: str = "1", at: float = T0,
           outputs: tuple[str, ...] = ("cat",), inclusion: list[float] | None = None) -> PredictionRecord:
    extra: dict[str, object] = {"classes": ["cat", "dog"],
                                "probabilities": [[0.8, 0.2] for _ in outputs]}
    if inclusion is not None:
        extra["inclusion"] = inclusion
    inputs = [{"size": float(i)} for i in range(len(outputs))]
    return PredictionRecord(request_id=request_id, timestamp=at, deployment="pets", model="pets-clf",
                            version=version, role=role, inputs=inputs, outputs=list(outputs), extra=extra)


def log(root: Path, *records: PredictionRecord, written_at: float = T0) -> None:
    """Write records the way servers do, then age the files as if written at `written_at`."""
    store = LogStore(root)
    store.write(list(records))
    store.close()
    for path in (root / "pets").glob("*.jsonl"):
        os.utime(path, (written_at, written_at))


def test_the_same_label_twice_counts_once_and_a_changed_one_replaces_it(tmp_path: Path) -> None:
    store = LocalLabelStore(tmp_path)
    first = store.put("pets", [Label(request_id="a", label="cat"), Label(request_id="b", label="dog")])
    again = store.put("pets", [Label(request_id="a", label="cat"), Label(request_id="b", label="cat")])
    assert (first.new, first.duplicate, first.changed) == (2, 0, 0)
    assert (again.new, again.duplicate, again.changed) == (0, 1, 1)
    labels = store.labels("pets").set_index("request_id")["label"].to_dict()
    assert labels == {"a": "cat", "b": "cat"}
    assert store.counts("pets") == {"stored": 2, "new": 2, "duplicate": 1, "changed": 1, "refused": 0}


def test_repeats_within_one_batch_and_a_new_sampling_probability_are_counted(tmp_path: Path) -> None:
    store = LocalLabelStore(tmp_path)
    batch = [Label(request_id="a", label=1), Label(request_id="a", label=1), Label(request_id="a", label=2)]
    result = store.put("pets", batch)
    assert (result.new, result.duplicate, result.changed) == (1, 1, 1)
    assert store.labels("pets")["label"].tolist() == [2]
    moved = store.put("pets", [Label(request_id="a", label=2, sampling_probability=0.5)])
    assert moved.changed == 1
    assert store.put("pets", [Label(request_id="a", label="2", sampling_probability=0.5)]).changed == 1, (
        "the string '2' is not the integer 2")


def test_a_label_for_an_unknown_request_is_kept_counted_and_joins_when_its_prediction_arrives(
    tmp_path: Path,
) -> None:
    store = LocalLabelStore(tmp_path)
    assert store.put("pets", [Label(request_id="later", label="dog")]).new == 1
    assert store.read("pets", T0 - 60, T0 + 60).empty
    assert store.status("pets") == {"stored": 1, "new": 1, "duplicate": 0, "changed": 0, "refused": 0,
                                         "matched": 0, "unmatched": 1}
    log(tmp_path, record("later"))
    joined = store.read("pets", T0 - 60, T0 + 60)
    assert joined[["request_id", "label", "prediction"]].values.tolist() == [["later", "dog", "cat"]]
    assert store.status("pets")["unmatched"] == 0


def test_labels_posted_an_hour_late_join_the_predictions_of_their_window(tmp_path: Path) -> None:
    clock = Clock(T0)
    log(tmp_path, record("r1", at=T0), record("r2", at=T0 + 1), written_at=T0 + 1)
    clock.now = T0 + HOUR + 5  # an hour later (the log files have long been rotated out)
    store = LocalLabelStore(tmp_path, clock=clock)
    store.put("pets", [Label(request_id="r1", label="cat"), Label(request_id="r2", label="dog")])
    joined = store.read("pets", T0 - 60, T0 + 60)
    assert sorted(joined["request_id"]) == ["r1", "r2"]
    assert (joined["label_received_at"] == T0 + HOUR + 5).all()
    assert store.read("pets", T0 + 60, T0 + 2 * HOUR).empty, "the window is by prediction time"


def test_weights_come_from_the_label_then_the_largest_role_probability_then_one(tmp_path: Path) -> None:
    log(tmp_path,
        record("p", inclusion=[0.1]), record("p", role="shadow", version="2", inclusion=[0.4]),
        record("q", inclusion=[0.25]), record("n"), record("m", outputs=("cat", "dog"), inclusion=[0.5, 1.0]))
    store = LocalLabelStore(tmp_path)
    store.put("pets", [Label(request_id="p", label="cat"), Label(request_id="q", label="dog",
                                                                   sampling_probability=0.8),
                       Label(request_id="n", label="cat"), Label(request_id="m", row=1, label="dog")])
    joined = store.read("pets", T0 - 1, T0 + 1)
    weights = joined.groupby(["request_id", "role"])["weight"].first().to_dict()
    assert weights == pytest.approx({("p", "champion"): 2.5, ("p", "shadow"): 2.5, ("q", "champion"): 1.25,
                                     ("n", "champion"): 1.0, ("m", "champion"): 1.0})
    sources = dict(zip(joined["request_id"], joined["probability_source"], strict=False))
    assert sources == {"p": "policy", "q": "label", "n": "none", "m": "policy"}
    assert joined.loc[joined["request_id"] == "m", "input.size"].tolist() == [1.0]
    rows = one_row_each(joined)
    assert len(rows) == 4 and {"input.size", "label", "weight"} <= set(rows.columns)


def test_failed_answers_are_not_labeled_and_a_missing_store_reads_empty(tmp_path: Path) -> None:
    store = LocalLabelStore(tmp_path)
    assert store.labels("pets").empty and store.counts("pets")["stored"] == 0
    failed = PredictionRecord(request_id="x", timestamp=T0, deployment="pets", model="m", version="1",
                              role="champion", inputs=[{"size": 1.0}], outputs=["cat"], status=500)
    log(tmp_path, failed)
    store.put("pets", [Label(request_id="x", label="cat")])
    assert store.read("pets", T0 - 1, T0 + 1).empty
    assert isinstance(store.labels("pets"), pd.DataFrame)


def test_a_read_only_store_can_be_read(tmp_path: Path) -> None:
    store = LocalLabelStore(tmp_path)
    store.put("pets", [Label(request_id="a", label="cat")])
    folder = store.path("pets").parent
    folder.chmod(0o555)
    store.path("pets").chmod(0o444)
    try:
        assert LocalLabelStore(tmp_path).labels("pets")["label"].tolist() == ["cat"]
    finally:
        folder.chmod(0o755)
        store.path("pets").chmod(0o644)
