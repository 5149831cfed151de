"""Online quality of each version and role over a labeled window: every metric with its interval."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pandas as pd

from kubeloop.quality import classification, regression
from kubeloop.quality.data import Task, classified, regressed, task_of, weights_of
from kubeloop.quality.statistic import Estimate, estimate, kish


@dataclass(frozen=True, kw_only=True)
class VersionQuality:
    """One version in one role: how many labeled rows, their effective size, the metrics."""

    version: str
    role: str
    task: Task
    labeled: int
    effective: float
    metrics: dict[str, Estimate]
    # metric (precision, recall, f1) -> class -> estimate
    per_class: dict[str, dict[str, Estimate]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly, as `kubeloop quality --json` prints it."""
        return {
            "version": self.version, "role": self.role, "task": self.task, "labeled": self.labeled,
            "effective": self.effective,
            "metrics": {name: e.to_dict() for name, e in self.metrics.items()},
            "per_class": {m: {c: e.to_dict() for c, e in by.items()} for m, by in self.per_class.items()},
        }


# The training evaluation's name (kubeloop.training.evaluation) of each online metric that has one.
OFFLINE_NAMES = {"accuracy": "accuracy", "macro-f1": "f1", "mae": "mae", "rmse": "rmse", "r2": "r2"}


def offline_figures(run_metrics: Mapping[str, float]) -> dict[str, float]:
    """A version's holdout metrics (its training run's) under the names of the online metrics."""
    return {online: float(run_metrics[offline]) for online, offline in OFFLINE_NAMES.items()
            if offline in run_metrics}


def online_quality(
    labeled: pd.DataFrame, *, confidence: float = 0.95, replicates: int = 200, seed: int = 0
) -> list[VersionQuality]:
    """Quality per (version, role) of a labeled frame, each estimate weighted by 1 / inclusion probability."""
    if labeled.empty:
        return []
    task = task_of(labeled)
    return [
        measure_version(rows, version=str(version), role=str(role), task=task, confidence=confidence,
                        replicates=replicates, seed=seed)
        for (version, role), rows in labeled.groupby(["version", "role"], sort=True)
    ]


def measure_version(
    rows: pd.DataFrame, *, version: str, role: str, task: Task, confidence: float, replicates: int, seed: int
) -> VersionQuality:
    """Every metric that applies to one version's labeled rows."""
    weights = weights_of(rows)
    measured = partial(estimate, weights=weights, confidence=confidence, replicates=replicates, seed=seed)
    metrics: dict[str, Estimate] = {}
    per_class: dict[str, dict[str, Estimate]] = {}
    if task == "regression":
        data = regressed(rows)
        for build in regression.METRICS.values():
            metrics |= measured(build(data))
    else:
        encoded = classified(rows)
        for build_one in classification.METRICS.values():
            stat = build_one(encoded)
            if stat is not None:
                metrics |= measured(stat)
        for name in classification.PER_CLASS:
            per_class[name] = measured(classification.per_class(encoded, name))
    return VersionQuality(version=version, role=role, task=task, labeled=len(rows),
                          effective=kish(weights), metrics=metrics, per_class=per_class)
