"""A training run's outcome read back from MLflow, and the same five steps run in this process."""

from __future__ import annotations

import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from kubeloop.registry.names import TAG_GATE_REASON, TAG_GATE_VERDICT, TAG_MODEL_VERSION
from kubeloop.settings import Settings
from kubeloop.training import steps, tracking
from kubeloop.training.config import TrainingConfig


@dataclass(frozen=True, kw_only=True)
class TrainingOutcome:
    """What a training run decided: the gate's verdict and reason, and the version it registered."""

    pipeline_run: str
    model_name: str
    passed: bool
    reason: str
    version: str | None = None
    mlflow_run_id: str = ""
    metrics: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready view for `--json` output and pipeline status outputs."""
        return {
            "pipeline_run": self.pipeline_run,
            "model": self.model_name,
            "passed": self.passed,
            "reason": self.reason,
            "version": self.version,
            "mlflow_run_id": self.mlflow_run_id,
            "metrics": self.metrics,
        }


def find_outcome(*, tracking_uri: str, config: TrainingConfig, pipeline_run: str) -> TrainingOutcome | None:
    """The outcome recorded by the evaluate/register steps of `pipeline_run`, or None if there is none."""
    run = tracking.find_run(
        tracking_uri=tracking_uri, experiment=config.experiment, pipeline_run=pipeline_run
    )
    if run is None:
        return None
    return TrainingOutcome(
        pipeline_run=pipeline_run,
        model_name=config.model_name,
        passed=run.data.tags.get(TAG_GATE_VERDICT) == "passed",
        reason=run.data.tags.get(TAG_GATE_REASON, ""),
        version=run.data.tags.get(TAG_MODEL_VERSION),
        mlflow_run_id=run.info.run_id,
        metrics={k: v for k, v in run.data.metrics.items() if not k.startswith("champion_")},
    )


def run_in_process(config: TrainingConfig, *, settings: Settings, pipeline_run: str = "") -> TrainingOutcome:
    """The training pipeline's steps in this process, without an orchestrator (benchmarks, notebooks)."""
    run_id = pipeline_run or f"inproc-{uuid.uuid4().hex[:12]}"
    data = config.data or str(_default_data(settings))
    artifact_root = settings.artifact_root
    with tempfile.TemporaryDirectory(prefix="kubeloop-train-") as scratch:
        work = Path(scratch)
        digest = steps.load_step(data=data, table_out=work / "table.parquet")
        schema_json = steps.validate_step(
            table=work / "table.parquet",
            config=config,
            train_out=work / "train.parquet",
            holdout_out=work / "holdout.parquet",
        )
        steps.train_step(
            train=work / "train.parquet",
            schema_json=schema_json,
            config=config,
            model_out=work / "model.joblib",
        )
        evaluation = steps.evaluate_step(
            model=work / "model.joblib",
            holdout=work / "holdout.parquet",
            schema_json=schema_json,
            config=config,
            digest=digest,
            tracking_uri=settings.tracking_uri,
            artifact_root=artifact_root,
            pipeline_run=run_id,
        )
        version = None
        if evaluation.passed:
            version = steps.register_step(
                model=work / "model.joblib",
                train=work / "train.parquet",
                schema_json=schema_json,
                config=config,
                tracking_uri=settings.tracking_uri,
                pipeline_run=run_id,
                holdout=work / "holdout.parquet",
            )
    return TrainingOutcome(
        pipeline_run=run_id,
        model_name=config.model_name,
        passed=evaluation.passed,
        reason=evaluation.reason,
        version=version,
        mlflow_run_id=evaluation.run_id,
        metrics=evaluation.metrics,
    )


def _default_data(settings: Settings) -> Path:
    from kubeloop.training.data import default_dataset

    return default_dataset(settings.home)
