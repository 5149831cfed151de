"""Fakes of the drift job's collaborators: a registry-side store, a pipeline runner and log windows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kubeloop.drift.check import Reference
from kubeloop.drift.store import ReferenceMissing
from kubeloop.errors import NotFoundError
from kubeloop.pipelines.base import PipelineRun, RunStatus


def logs(rows: int, *, shift: float = 0.0, version: str = "1", seed: int = 0) -> pd.DataFrame:
    """Logged rows as kubeloop.predlog.read_predictions returns them."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(rows)],
            "row": 0,
            "timestamp": 0.0,
            "deployment": "iris",
            "model": "iris",
            "version": version,
            "role": "champion",
            "status": 200,
            "latency_ms": 1.0,
            "prediction": rng.choice([0, 1], rows),
            "input.a": rng.normal(shift, 1, rows),
            "input.b": rng.normal(shift, 1, rows),
        }
    )


def reference_sample(rows: int = 1000, seed: int = 99) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"a": rng.normal(0, 1, rows), "b": rng.normal(0, 1, rows), "prediction": rng.choice([0, 1], rows)}
    )


@dataclass
class FakeStore:
    """Versions with references, the champion alias, and what the job stored."""

    references: dict[str, Reference] = field(default_factory=dict)
    champion_version: str | None = "1"
    reports: list[dict[str, Any]] = field(default_factory=list)
    trails: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail_reports: bool = False
    offline: dict[str, dict[str, float]] = field(default_factory=dict)

    def champion(self, model: str) -> str:
        if self.champion_version is None:
            raise NotFoundError(f"model {model!r} has no champion version to check for drift")
        return self.champion_version

    def load_reference(self, model: str, version: str) -> Reference:
        if version not in self.references:
            raise ReferenceMissing(f"model {model!r} version {version} has no reference")
        return self.references[version]

    def save_report(
        self, *, model: str, version: str, stamp: str, html: str | None, summary: Mapping[str, Any]
    ) -> str:
        if self.fail_reports:
            raise OSError("artifact store is read-only")
        self.reports.append({"version": version, "stamp": stamp, "html": html, "summary": dict(summary)})
        return f"runs:/run-{version}/drift/{stamp}"

    def set_trail(self, *, model: str, version: str, trail: Mapping[str, Any]) -> None:
        self.trails[version] = dict(trail)

    def offline_metrics(self, model: str, version: str) -> dict[str, float]:
        return dict(self.offline.get(version, {}))


@dataclass
class FakeRunner:
    """Accepts submissions; each run 'registers' the next version when waited for."""

    submitted: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail_submit: bool = False

    def submit(self, pipeline: str, params: Mapping[str, Any]) -> PipelineRun:
        if self.fail_submit:
            raise ConnectionError("pipeline backend down")
        self.submitted.append((pipeline, dict(params)))
        return PipelineRun(run_id=f"run-{len(self.submitted)}", pipeline=pipeline, params=params)

    def status(self, run: PipelineRun) -> RunStatus:
        return RunStatus(state="succeeded", outputs={"model_version": str(1 + len(self.submitted))})

    def wait(self, run: PipelineRun, *, timeout: float) -> RunStatus:
        return self.status(run)


def labeled_window(
    rows: int, *, accuracy: float, at: float, seed: int = 0, version: str = "1"
) -> pd.DataFrame:
    """Labeled answers of `version` (as LabelStore.read gives them), right on `accuracy` of the rows."""
    from kubeloop.labels.join import labeled_rows

    rng = np.random.default_rng(seed)
    truth = rng.choice([0, 1], rows)
    right = rng.uniform(size=rows) < accuracy
    predictions = logs(rows, version=version, seed=seed).assign(
        prediction=np.where(right, truth, 1 - truth), timestamp=at - rng.uniform(0, 600, rows))
    labels = pd.DataFrame({"request_id": predictions["request_id"], "row": 0, "label": truth,
                           "sampling_probability": 0.5, "received_at": at, "updated_at": at})
    return labeled_rows(predictions, labels)


@dataclass
class FakeLabels:
    """A label store that answers one window (or fails), and says how many labels it holds."""

    window: pd.DataFrame = field(default_factory=pd.DataFrame)
    fail: bool = False
    reads: list[tuple[str, float, float]] = field(default_factory=list)

    def read(self, deployment: str, since: float, until: float) -> pd.DataFrame:
        if self.fail:
            raise OSError("label database is locked")
        self.reads.append((deployment, since, until))
        return self.window

    def counts(self, deployment: str) -> dict[str, int]:
        if self.fail:
            raise OSError("label database is locked")
        return {"stored": len(self.window)}

    def status(self, deployment: str) -> dict[str, int]:
        return {**self.counts(deployment), "unmatched": 3}
