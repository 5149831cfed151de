"""Where drift checks meet MLflow: reference artifacts in, reports and trail tags out.

`DriftStore` is the narrow interface the drift job uses; `MlflowDriftStore` implements it on the
model version's training run (the reference lives there, the reports are logged beside it).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from kubeloop.drift.check import Reference
from kubeloop.drift.profile import build_profile, parse_profile, profile_json
from kubeloop.errors import KubeloopError, NotFoundError
from kubeloop.registry.names import CHAMPION, REFERENCE_PROFILE_PATH, REFERENCE_SAMPLE_PATH, TAG_TRAIL

REPORTS_PATH = "drift"


class ReferenceMissing(KubeloopError):
    """A model version has neither a reference sample nor a reference profile to compare with."""


class DriftStore(Protocol):
    """The registry side of a drift check."""

    def champion(self, model: str) -> str:
        """The version the `champion` alias points to; NotFoundError when none is set."""

    def load_reference(self, model: str, version: str) -> Reference:
        """The version's reference; ReferenceMissing when it has none."""

    def save_report(
        self, *, model: str, version: str, stamp: str, html: str | None, summary: Mapping[str, Any]
    ) -> str:
        """Store the report and JSON summary with the version; return where they are."""

    def set_trail(self, *, model: str, version: str, trail: Mapping[str, Any]) -> None:
        """Record the retrain trail on a version as the `kubeloop.trail` tag."""

    def offline_metrics(self, model: str, version: str) -> dict[str, float]:
        """The holdout metrics the training evaluation logged on the version's run (empty when none)."""


def log_reference_profile(
    *, tracking_uri: str, run_id: str, features: pd.DataFrame, predictions: Any = None
) -> dict[str, Any]:
    """Build the reference profile and log it on the training run at REFERENCE_PROFILE_PATH."""
    from mlflow.tracking import MlflowClient

    profile = build_profile(features=features, predictions=predictions)
    folder, _, filename = REFERENCE_PROFILE_PATH.rpartition("/")
    with tempfile.TemporaryDirectory(prefix="kubeloop-profile-") as scratch:
        path = Path(scratch) / filename
        path.write_text(profile_json(profile))
        MlflowClient(tracking_uri=tracking_uri).log_artifact(run_id, str(path), artifact_path=folder)
    return profile


class MlflowDriftStore:
    """DriftStore on an MLflow tracking server or SQLite store, through kubeloop's registry."""

    def __init__(self, *, tracking_uri: str) -> None:
        from mlflow.tracking import MlflowClient

        from kubeloop.registry.mlflow_registry import MlflowRegistry

        self.tracking_uri = tracking_uri
        self.registry = MlflowRegistry(tracking_uri=tracking_uri)
        self._client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def champion(self, model: str) -> str:
        """The version the `champion` alias points to; NotFoundError when none is set."""
        version = self.registry.version_for_alias(model, CHAMPION)
        if version is None:
            raise NotFoundError(f"model {model!r} has no champion version to check for drift")
        return version.version

    def _run_id(self, model: str, version: str) -> str:
        run_id = self.registry.get_version(model, version).run_id
        if not run_id:
            raise ReferenceMissing(f"model {model!r} version {version} has no training run, so no reference")
        return run_id

    def _download(self, run_id: str, path: str, scratch: str) -> Path | None:
        """The artifact at `path`, None when the run has none; an unreachable store raises.

        Whether it exists is asked first (listing its folder), so an outage of the tracking server or
        the artifact store is an error, never "no reference".
        """
        from mlflow.artifacts import download_artifacts

        folder = path.rpartition("/")[0] or None
        if path not in {info.path for info in self._client.list_artifacts(run_id, folder)}:
            return None
        return Path(
            download_artifacts(
                run_id=run_id, artifact_path=path, dst_path=scratch, tracking_uri=self.tracking_uri
            )
        )

    def load_reference(self, model: str, version: str) -> Reference:
        """The version's reference: the profile and sample logged at registration (either may be absent)."""
        run_id = self._run_id(model, version)
        with tempfile.TemporaryDirectory(prefix="kubeloop-reference-") as scratch:
            sample_path = self._download(run_id, REFERENCE_SAMPLE_PATH, scratch)
            profile_path = self._download(run_id, REFERENCE_PROFILE_PATH, scratch)
            sample = pd.read_parquet(sample_path) if sample_path else None
            profile = parse_profile(profile_path.read_text()) if profile_path else None
        if profile is None and sample is None:
            raise ReferenceMissing(
                f"model {model!r} version {version} has no reference ({REFERENCE_SAMPLE_PATH} or "
                f"{REFERENCE_PROFILE_PATH} on run {run_id}); it was registered before drift references "
                "were logged: retrain it to get one"
            )
        if profile is None:
            assert sample is not None
            return Reference.from_sample(sample)
        return Reference(profile=profile, sample=sample)

    def save_report(
        self, *, model: str, version: str, stamp: str, html: str | None, summary: Mapping[str, Any]
    ) -> str:
        """Log `drift/<stamp>/report.html` and `summary.json` on the version's training run."""
        run_id = self._run_id(model, version)
        folder = f"{REPORTS_PATH}/{stamp}"
        with tempfile.TemporaryDirectory(prefix="kubeloop-drift-") as scratch:
            (Path(scratch) / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
            if html is not None:
                (Path(scratch) / "report.html").write_text(html)
            self._client.log_artifacts(run_id, scratch, artifact_path=folder)
        return f"runs:/{run_id}/{folder}"

    def set_trail(self, *, model: str, version: str, trail: Mapping[str, Any]) -> None:
        """Record the retrain trail on a version as the `kubeloop.trail` tag."""
        self.registry.set_tags(
            name=model,
            version=version,
            tags={TAG_TRAIL: json.dumps(dict(trail), sort_keys=True, default=str)},
        )

    def offline_metrics(self, model: str, version: str) -> dict[str, float]:
        """The holdout metrics the training evaluation logged on the version's run (empty when none)."""
        run_id = self.registry.get_version(model, version).run_id
        if not run_id:
            return {}
        return {name: float(value) for name, value in self._client.get_run(run_id).data.metrics.items()}
