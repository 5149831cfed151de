"""The label store: the `LabelStore` port and its local implementation, SQLite beside the prediction logs.

One database per deployment (`<logs>/<deployment>/labels/labels.sqlite3`), keyed by request id and row.
SQLite rather than appended files because every `put` must tell a new label from a repeated or a
changed one, exactly once, even when the gateway, the collector and `labels import` write at the same
time; each put is one transaction. Labels are joined with the prediction logs only when read, so a
label that arrives before its prediction is kept and joins once the prediction is logged.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Protocol

import orjson
import pandas as pd

from kubeloop.labels.join import KEYS, LABEL_COLUMNS, labeled_rows
from kubeloop.labels.records import OUTCOMES, Label, PutResult
from kubeloop.labels.schema import LabelSchema, read_schema
from kubeloop.predlog.reader import read_predictions
from kubeloop.predlog.store import deployment_folder
from kubeloop.settings import Settings

_SCHEMA = """
CREATE TABLE IF NOT EXISTS labels (
    request_id TEXT NOT NULL, row INTEGER NOT NULL, label TEXT NOT NULL, sampling_probability REAL,
    received_at REAL NOT NULL, updated_at REAL NOT NULL, PRIMARY KEY (request_id, row)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counts (outcome TEXT PRIMARY KEY, n INTEGER NOT NULL);
"""
_UPSERT = """
INSERT INTO labels SELECT request_id, row, label, sampling_probability, :now, :now FROM incoming WHERE true
ON CONFLICT (request_id, row) DO UPDATE SET label = excluded.label,
    sampling_probability = excluded.sampling_probability, updated_at = excluded.updated_at
WHERE labels.label IS NOT excluded.label OR labels.sampling_probability IS NOT excluded.sampling_probability
"""
_CHANGED = """
SELECT count(*) FROM incoming i JOIN labels l ON l.request_id = i.request_id AND l.row = i.row
WHERE l.label IS NOT i.label OR l.sampling_probability IS NOT i.sampling_probability
"""
_KNOWN = "SELECT count(*) FROM incoming i JOIN labels l ON l.request_id = i.request_id AND l.row = i.row"


class LabelStore(Protocol):
    """Where labels are kept and read back joined with the predictions they label."""

    def put(self, deployment: str, labels: Sequence[Label]) -> PutResult:
        """Store a batch idempotently: a repeated label counts as a duplicate, a different one replaces it."""

    def read(self, deployment: str, since: float, until: float) -> pd.DataFrame:
        """Labeled answers of predictions made in [since, until): one row per version and role answering."""


class LocalLabelStore:
    """Labels in one SQLite database per deployment, under the prediction-log folder `root`."""

    def __init__(self, root: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.root = Path(root)
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalLabelStore:
        """The store beside this home's prediction logs."""
        return cls(settings.logs_dir)

    def path(self, deployment: str) -> Path:
        """The deployment's database file."""
        return deployment_folder(self.root, deployment) / "labels" / "labels.sqlite3"

    def schema(self, deployment: str) -> LabelSchema:
        """What the deployment's models accept as a label (recorded by their servers)."""
        return read_schema(self.root, deployment)

    def put(self, deployment: str, labels: Sequence[Label]) -> PutResult:
        """Store a batch idempotently: a repeated label counts as a duplicate, a different one replaces it."""
        unique, repeated = _last_of_each(labels)
        rows = [(x.request_id, x.row, _encode(x.label), x.sampling_probability) for x in unique.values()]
        with self._writing(deployment) as db:
            db.execute("CREATE TEMP TABLE IF NOT EXISTS incoming (request_id TEXT, row INTEGER, "
                       "label TEXT, sampling_probability REAL, PRIMARY KEY (request_id, row))")
            db.execute("DELETE FROM incoming")
            db.executemany("INSERT INTO incoming VALUES (?, ?, ?, ?)", rows)
            known = db.execute(_KNOWN).fetchone()[0]
            changed = db.execute(_CHANGED).fetchone()[0]
            db.execute(_UPSERT, {"now": self.clock()})
            result = PutResult(new=len(rows) - known, duplicate=known - changed, changed=changed) + repeated
            _count(db, new=result.new, duplicate=result.duplicate, changed=result.changed)
        return result

    def count_refused(self, deployment: str, refused: int) -> None:
        """Count labels of a refused batch, so refusals show beside what was stored."""
        if refused > 0:
            with self._writing(deployment) as db:
                _count(db, refused=refused)

    def counts(self, deployment: str) -> dict[str, int]:
        """Every label this deployment's store was given, by outcome, and how many it holds now."""
        found = dict.fromkeys(OUTCOMES, 0)
        with self._reading(deployment) as db:
            if db is not None:
                found |= dict(db.execute("SELECT outcome, n FROM counts").fetchall())
                found["stored"] = db.execute("SELECT count(*) FROM labels").fetchone()[0]
        return {"stored": 0, **found}

    def status(self, deployment: str) -> dict[str, int]:
        """`counts` plus how many stored labels match a logged prediction (the rest wait for theirs)."""
        counts = self.counts(deployment)
        labels = self.labels(deployment)
        logged = read_predictions(self.root, deployment, request_ids=set(labels["request_id"]))
        matched = 0
        if not logged.empty:
            keys = pd.MultiIndex.from_frame(logged[list(KEYS)].drop_duplicates())
            matched = int(pd.MultiIndex.from_frame(labels[list(KEYS)]).isin(keys).sum())
        return {**counts, "matched": matched, "unmatched": counts["stored"] - matched}

    def labels(self, deployment: str) -> pd.DataFrame:
        """Every stored label: request_id, row, label, sampling_probability, received_at, updated_at."""
        with self._reading(deployment) as db:
            rows = [] if db is None else db.execute(
                "SELECT request_id, row, label, sampling_probability, received_at, updated_at FROM labels"
            ).fetchall()
        frame = pd.DataFrame(rows, columns=list(LABEL_COLUMNS))
        frame["label"] = [orjson.loads(text) for text in frame["label"]]
        return frame

    def read(self, deployment: str, since: float, until: float) -> pd.DataFrame:
        """Labeled answers of predictions made in [since, until): one row per version and role answering."""
        labels = self.labels(deployment)
        if labels.empty:  # nothing to join: the logs are not read at all
            return labeled_rows(pd.DataFrame(), labels)
        predictions = read_predictions(self.root, deployment, since=since, until=until,
                                       request_ids=set(labels["request_id"]))
        return labeled_rows(predictions, labels)

    @contextmanager
    def _writing(self, deployment: str) -> Iterator[sqlite3.Connection]:
        path = self.path(deployment)
        path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(path, timeout=30.0, isolation_level=None)) as db:
            db.executescript(_SCHEMA)
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @contextmanager
    def _reading(self, deployment: str) -> Iterator[sqlite3.Connection | None]:
        path = self.path(deployment)
        if not path.exists():
            yield None
            return
        # Read-only: readers (rollout checks, drift jobs) may have the folder mounted read-only.
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30.0)) as db:
            yield db


def _encode(value: object) -> str:
    """Labels as JSON text, which keeps a class's type (the string "1" is not the integer 1)."""
    return orjson.dumps(value).decode()


def _last_of_each(labels: Sequence[Label]) -> tuple[dict[tuple[str, int], Label], PutResult]:
    """The batch with each key once (its last label), and what the repeats within the batch were."""
    unique: dict[tuple[str, int], Label] = {}
    duplicate = changed = 0
    for label in labels:
        key = (label.request_id, label.row)
        before = unique.get(key)
        if before is not None:
            same = (_encode(before.label) == _encode(label.label)
                    and before.sampling_probability == label.sampling_probability)
            duplicate, changed = duplicate + same, changed + (not same)
        unique[key] = label
    return unique, PutResult(duplicate=duplicate, changed=changed)


def _count(db: sqlite3.Connection, **outcomes: int) -> None:
    db.executemany(
        "INSERT INTO counts VALUES (?, ?) ON CONFLICT (outcome) DO UPDATE SET n = n + excluded.n",
        [(outcome, n) for outcome, n in outcomes.items() if n],
    )
