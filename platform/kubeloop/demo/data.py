"""The demo's data: iris as the world v1 learns, and a copy where the flowers grew (the drift to catch).

The shift scales every measurement up and moves petals most, keeping each flower's species: the
champion's class boundaries now sit in the wrong place (many versicolor read as virginica), while a
model retrained on the labeled production answers to the new measurements separates the classes
again. That is what makes v2 genuinely better on a holdout of those labels, so it passes the training
gate against the champion there, and wins the paired quality check in shadow.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kubeloop.settings import Settings
from kubeloop.training.data import DEFAULT_TARGET, default_dataset

SHIFTED_DATASET = "iris-grown.csv"
# Multipliers per column name fragment: petals grew most, sepals a little.
GROWTH = {"sepal_length": 1.15, "sepal_width": 1.05, "petal_length": 1.45, "petal_width": 1.6}
NOISE_SD = 0.05


@dataclass(frozen=True, kw_only=True)
class DemoData:
    """Where the demo's tables are: the world v1 learns, and the grown one the traffic shifts to."""

    original: Path
    shifted: Path

    def features(self, *, shifted: bool) -> pd.DataFrame:
        """The feature columns of one table (what the traffic generator sends)."""
        frame = pd.read_csv(self.shifted if shifted else self.original)
        return frame.drop(columns=[DEFAULT_TARGET])

    def truth(self, *, shifted: bool) -> list[int]:
        """The species of each row of one table, in the order of `features` (what the labeler knows)."""
        frame = pd.read_csv(self.shifted if shifted else self.original)
        return [int(v) for v in frame[DEFAULT_TARGET]]


def grow(frame: pd.DataFrame, *, seed: int = 7) -> pd.DataFrame:
    """The shifted copy: each feature scaled by its growth factor plus a little noise; labels untouched."""
    rng = np.random.default_rng(seed)
    grown = frame.copy()
    for column in frame.columns:
        factor = next((f for part, f in GROWTH.items() if column.startswith(part)), None)
        if factor is not None:
            noise = rng.normal(0.0, NOISE_SD, len(frame))
            grown[column] = (frame[column] * factor + noise).round(2)
    return grown


def write_datasets(settings: Settings) -> DemoData:
    """Write iris and its grown copy under KUBELOOP_HOME (the copy, in `incoming/`, is what the traffic
    sends after the shift, and what the broken v3 is fitted on)."""
    original = default_dataset(settings.home)
    incoming = settings.home / "datasets" / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    shifted = incoming / SHIFTED_DATASET
    if not shifted.exists():
        scratch = shifted.with_suffix(".tmp")
        grow(pd.read_csv(original)).to_csv(scratch, index=False)
        scratch.replace(shifted)
    return DemoData(original=original, shifted=shifted)
