"""The drift job's labels: the serving version's online quality (the quality trigger's reading),
exported as `kubeloop_quality_*` beside each version's own holdout figures, and the labeled rows a
retrain on production data would train on.

One read of the label store covers the longer of the two windows (quality, labeled training). A
failing store or registry becomes a message; the drift check and its verdict stand without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import pandas as pd

from kubeloop.drift.policy import QualityReading
from kubeloop.labels.join import KEYS
from kubeloop.quality.exporter import QualityMetrics
from kubeloop.quality.online import VersionQuality, offline_figures, online_quality
from kubeloop.quality.paired import HIGHER_IS_BETTER
from kubeloop.spec import ModelDeployment

SERVING_ROLE = "champion"


class LabelSource(Protocol):
    """The label store as the drift job reads it (`kubeloop.labels.LocalLabelStore`)."""

    def read(self, deployment: str, since: float, until: float) -> pd.DataFrame:
        """Labeled answers of predictions made in [since, until): one row per version and role answering."""

    def counts(self, deployment: str) -> dict[str, int]:
        """Labels received by outcome and how many are stored (without reading the logs)."""

    def status(self, deployment: str) -> dict[str, int]:
        """`counts` plus how many stored labels wait for their prediction."""


class OfflineMetrics(Protocol):
    """Where a version's holdout metrics are (its training run in the registry)."""

    def offline_metrics(self, model: str, version: str) -> dict[str, float]:
        """The metrics the training evaluation logged for the version (empty when none)."""


@dataclass(frozen=True, kw_only=True)
class Labeled:
    """What the labels of one check said: the serving version's reading and the rows of the window."""

    reading: QualityReading | None = None
    rows: pd.DataFrame = field(default_factory=pd.DataFrame)
    messages: tuple[str, ...] = ()
    measured: bool = False  # the gauges hold this check's measurement (the labels could be read)

    def labeled_inputs(self, since: float) -> int:
        """Labeled inputs (request, row) of predictions made since `since`."""
        if self.rows.empty:
            return 0
        return int(self.rows.loc[self.rows["timestamp"] >= since, KEYS].drop_duplicates().shape[0])


def read_window(labels: LabelSource, deployment: ModelDeployment, *, now: float) -> pd.DataFrame:
    """The labeled rows of the longest window the check needs (quality, labeled training)."""
    drift = deployment.spec.drift
    longest = max(drift.quality_window(), drift.labeled_window() if drift.train_on != "reference" else 0.0)
    return labels.read(deployment.name, now - longest, now)


def reading_of(
    reports: list[VersionQuality], deployment: ModelDeployment, *, version: str, offline: Mapping[str, float]
) -> QualityReading | None:
    """The quality trigger's reading of the serving version, from the window's reports."""
    trigger = deployment.spec.drift.quality
    if trigger is None:
        return None
    mine = [r for r in reports if r.version == version and r.role == SERVING_ROLE]
    if not mine or trigger.metric not in mine[0].metrics:
        return None
    found = mine[0].metrics[trigger.metric]
    return QualityReading(metric=trigger.metric, value=found.value, low=found.low, high=found.high,
                          labels=mine[0].labeled, offline=offline.get(trigger.metric),
                          higher_is_better=trigger.metric in HIGHER_IS_BETTER)


def measure(
    labels: LabelSource, registry: OfflineMetrics, deployment: ModelDeployment, *, version: str, now: float,
    metrics: QualityMetrics,
) -> Labeled:
    """Read the window's labels, measure every version in it, record the gauges, give the reading.

    A deployment that has no labels at all costs one look at its label database, not a read of its logs.
    """
    try:
        if not labels.counts(deployment.name).get("stored"):
            return Labeled()
        rows = read_window(labels, deployment, now=now)
        counts = labels.status(deployment.name)
    except Exception as error:  # noqa: BLE001 - the drift verdict stands without labels
        return Labeled(messages=(f"could not read labels: {type(error).__name__}: {error}",))
    drift = deployment.spec.drift
    confidence = drift.quality.confidence if drift.quality is not None else 0.95
    recent = rows[rows["timestamp"] >= now - drift.quality_window()] if not rows.empty else rows
    reports = online_quality(recent, confidence=confidence)
    versions = dict.fromkeys([*(r.version for r in reports), version])
    offline, messages = offline_of(registry, model=deployment.spec.model.name, versions=list(versions))
    metrics.record(deployment=deployment.name, model=deployment.spec.model.name, reports=reports,
                   counts=counts, now=now, offline=offline)
    reading = reading_of(reports, deployment, version=version, offline=offline[version])
    return Labeled(reading=reading, rows=rows, messages=messages, measured=True)


def offline_of(
    registry: OfflineMetrics, *, model: str, versions: list[str]
) -> tuple[dict[str, dict[str, float]], tuple[str, ...]]:
    """Each version's holdout figures under the online metrics' names; a version the registry cannot
    answer for gets none, and a message says why (the online figures stand without their twins)."""
    found: dict[str, dict[str, float]] = {}
    messages: list[str] = []
    for version in versions:
        try:
            found[version] = offline_figures(registry.offline_metrics(model, version))
        except Exception as error:  # noqa: BLE001 - a registry failure of any kind
            found[version] = {}
            messages.append(f"no holdout metrics of version {version}: {type(error).__name__}: {error}")
    return found, tuple(messages)
