"""Joining labels with the prediction logs (pure): each labeled answer with its label and its weight.

A row's weight is 1 / its inclusion probability: the label's own `sampling_probability` when the
labeling tool gave one, else the largest probability any role recorded for the row (see
`kubeloop.labels.policy`: that is the probability it was chosen with), else 1 (labels nobody chose
count as if every request had been labeled).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kubeloop.predlog.schema import INCLUSION_PROBABILITY, PREDICTION

KEYS = ["request_id", "row"]
LABEL_COLUMNS = ("request_id", "row", "label", "sampling_probability", "received_at", "updated_at")
LABEL = "label"
WEIGHT = "weight"
# Where a row's inclusion probability came from: the label, the labeling policy, or neither.
PROBABILITY_SOURCE = "probability_source"
_FIRST = [*KEYS, "timestamp", "version", "role", PREDICTION, LABEL, WEIGHT, INCLUSION_PROBABILITY,
          PROBABILITY_SOURCE]


def labeled_rows(predictions: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Answered predictions (status < 400) that have a label, one row per version and role, weighted."""
    if predictions.empty or labels.empty:
        return pd.DataFrame(columns=_FIRST)
    wanted = predictions["request_id"].isin(labels["request_id"])
    answered = predictions[(predictions["status"] < 400) & wanted]
    answered = answered.drop_duplicates([*KEYS, "version", "role"], keep="last")
    own = labels.rename(columns={"sampling_probability": "label_sampling_probability",
                                 "received_at": "label_received_at", "updated_at": "label_updated_at"})
    # Labels are unique per key (the primary key), so no merge validation: it costs more than the join.
    joined = answered.merge(own, on=KEYS, how="inner")
    policy = (joined.groupby(KEYS, sort=False)[INCLUSION_PROBABILITY].transform("max")
              if INCLUSION_PROBABILITY in joined else pd.Series(np.nan, index=joined.index))
    given = joined["label_sampling_probability"].astype(float)
    probability = given.fillna(policy.astype(float)).fillna(1.0)
    joined[PROBABILITY_SOURCE] = np.where(given.notna(), "label", np.where(policy.notna(), "policy", "none"))
    joined[INCLUSION_PROBABILITY] = probability
    joined[WEIGHT] = 1.0 / probability
    rest = [c for c in joined.columns if c not in _FIRST]
    return joined[[*_FIRST, *rest]].reset_index(drop=True)


def one_row_each(labeled: pd.DataFrame) -> pd.DataFrame:
    """One row per labeled input (the roles' answers of a request share its inputs, label and weight).

    What a training step takes: `input.<feature>` columns, `label` and `weight`.
    """
    return labeled.drop_duplicates(KEYS, keep="first").reset_index(drop=True)
