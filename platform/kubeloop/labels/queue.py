"""The labeling queue (pure): the rows the policy chose, with what a labeling tool shows a person.

A row is chosen when `draw(request_id, row)` falls under its inclusion probability (the largest any
role recorded, see `kubeloop.labels.policy`). Each chosen row is exported once, from the answer the
caller got (champion or challenger), with the shadow's answer beside it when one was mirrored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from kubeloop.labels.join import KEYS
from kubeloop.labels.policy import draw
from kubeloop.labels.records import LabelError
from kubeloop.predlog.schema import INCLUSION_PROBABILITY, INPUT_PREFIX, PREDICTION

SHADOW = "shadow"
PROBABILITY_PREFIX = "probability."
QUEUE_COLUMNS = [*KEYS, "timestamp", INCLUSION_PROBABILITY, "version", "role", PREDICTION]


def chosen_rows(predictions: pd.DataFrame, *, labeled: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows chosen for labeling in the logged predictions, leaving out those in `labeled` (keys)."""
    if predictions.empty or INCLUSION_PROBABILITY not in predictions:
        return pd.DataFrame(columns=QUEUE_COLUMNS)
    answered = predictions[(predictions["status"] < 400) & predictions[INCLUSION_PROBABILITY].notna()]
    probability = answered.groupby(KEYS, sort=False)[INCLUSION_PROBABILITY].max().rename("p")
    served = answered[answered["role"] != SHADOW].drop_duplicates(KEYS, keep="last")
    served = served.drop(columns=[INCLUSION_PROBABILITY]).join(probability, on=KEYS)
    draws = np.fromiter((draw(r, i) for r, i in zip(served["request_id"], served["row"], strict=True)),
                        dtype=float, count=len(served))
    queue = served[draws < served["p"].to_numpy()].rename(columns={"p": INCLUSION_PROBABILITY})
    if labeled is not None and not labeled.empty:
        done = pd.MultiIndex.from_frame(labeled[KEYS])
        queue = queue[~pd.MultiIndex.from_frame(queue[KEYS]).isin(done)]
    shadow = answered[answered["role"] == SHADOW].drop_duplicates(KEYS, keep="last")
    shadow = shadow[[*KEYS, "version", PREDICTION]].rename(
        columns={"version": "shadow_version", PREDICTION: "shadow_prediction"})
    queue = queue.merge(shadow, on=KEYS, how="left")
    extra = [c for c in queue.columns if c.startswith((PROBABILITY_PREFIX, INPUT_PREFIX))]
    shadow_columns = ["shadow_version", "shadow_prediction"] if queue["shadow_version"].notna().any() else []
    return queue[[*QUEUE_COLUMNS, *shadow_columns, *extra]].reset_index(drop=True)


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """Write a frame as CSV, Parquet or JSON lines, chosen by the file's suffix."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif suffix in (".jsonl", ".ndjson"):
        frame.to_json(path, orient="records", lines=True)
    else:
        raise LabelError(f"{path}: expected a .csv, .parquet or .jsonl file to write")
    return path
