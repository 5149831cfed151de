"""A pipeline run's outcome read back from MLflow, and the built-in training steps run in this process.

Any pipeline built from kubeloop's components leaves its trace on the candidate model's MLflow run:
the evaluate step tags it with the pipeline run, the gate with its verdict and reason, the register
step with the model name and version. `find_outcome` reads that back, whatever the pipeline.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from kubeloop.registry.names import TAG_GATE_REASON, TAG_GATE_VERDICT, TAG_MODEL_NAME, TAG_MODEL_VERSION
from kubeloop.settings import Settings
from kubeloop.training import steps
from kubeloop.training.config import TrainingConfig


@dataclass(frozen=True, kw_only=True)
class TrainingOutcome:
    """What a run decided: the gate's verdict and reason, and the version it registered."""

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


def find_outcome(*, tracking_uri: str, pipeline_run: str) -> TrainingOutcome | None:
    """The newest gated run of `pipeline_run` (in any experiment), or None when no gate ran."""
    from kubeloop.training.tracking import find_runs

    gated = [
        r
        for r in find_runs(tracking_uri=tracking_uri, pipeline_run=pipeline_run)
        if TAG_GATE_VERDICT in r.data.tags
    ]
    if not gated:
        return None
    run = gated[0]
    return TrainingOutcome(
        pipeline_run=pipeline_run,
        model_name=run.data.tags.get(TAG_MODEL_NAME, ""),
        passed=run.data.tags[TAG_GATE_VERDICT] == "passed",
        reason=run.data.tags.get(TAG_GATE_REASON, ""),
        version=run.data.tags.get(TAG_MODEL_VERSION),
        mlflow_run_id=run.info.run_id,
        metrics={k: v for k, v in run.data.metrics.items() if not k.startswith("champion_")},
    )


def run_in_process(
    config: TrainingConfig,
    *,
    settings: Settings,
    pipeline_run: str = "",
    on_step: Callable[[str, float], None] | None = None,
) -> TrainingOutcome:
    """The training pipeline's steps in this process, without an orchestrator (benchmarks, notebooks).

    `on_step(task, seconds)` hears how long each step took, under its task's name in the pipeline.
    """
    timed = _timer(on_step)
    run_id = pipeline_run or f"inproc-{uuid.uuid4().hex[:12]}"
    data = config.data or ("" if config.train_on == "labeled" else str(_default_data(settings)))
    uri, root = settings.tracking_uri, settings.artifact_root
    with tempfile.TemporaryDirectory(prefix="kubeloop-train-") as scratch:
        work = Path(scratch)
        with timed("load-table"):
            digest = steps.load_step(data=data, table_out=work / "table.parquet", train_on=config.train_on,
                                     labels_from=config.labels_from, labels_window=config.labels_window,
                                     labeled_share=config.labeled_share, target=config.target,
                                     settings=settings)
        with timed("validate-table"):
            schema_json = steps.validate_step(
                table=work / "table.parquet",
                target=config.target,
                task=config.task,
                min_rows=config.min_rows,
                test_size=config.test_size,
                seed=config.seed,
                train_out=work / "train.parquet",
                holdout_out=work / "holdout.parquet",
                weight_column=config.weight_column,
            )
        with timed("train-sklearn"):
            model_uri = steps.train_step(
                train=work / "train.parquet",
                schema_json=schema_json,
                estimator=config.estimator,
                hyperparams=config.hyperparams,
                seed=config.seed,
                model_name=config.model_name,
                experiment=config.experiment,
                tracking_uri=uri,
                artifact_root=root,
                pipeline_run=run_id,
            )
        with timed("evaluate-model"):
            evaluation = steps.evaluate_step(
                model_uri=model_uri,
                holdout=work / "holdout.parquet",
                target=config.target,
                task=config.task,
                model_name=config.model_name,
                tracking_uri=uri,
                pipeline_run=run_id,
            )
        with timed("quality-gate"):
            policy = config.gate_policy(evaluation.task)
            decision = steps.gate_step(evaluation=evaluation, policy=policy, tracking_uri=uri)
        version = None
        if decision.passed:
            with timed("register-model"):
                version = steps.register_step(
                    model_uri=model_uri,
                    model_name=config.model_name,
                    reference=work / "train.parquet",
                    holdout=work / "holdout.parquet",
                    data_digest=digest,
                    tracking_uri=uri,
                    pipeline_run=run_id,
                    artifact_root=root,
                )
    return TrainingOutcome(
        pipeline_run=run_id,
        model_name=config.model_name,
        passed=decision.passed,
        reason=decision.reason,
        version=version,
        mlflow_run_id=evaluation.run_id or "",
        metrics=evaluation.metrics,
    )


def _timer(on_step: Callable[[str, float], None] | None) -> Callable[[str], AbstractContextManager[None]]:
    @contextmanager
    def timed(task: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        if on_step is not None:
            on_step(task, time.perf_counter() - started)

    return timed


def _default_data(settings: Settings) -> Path:
    from kubeloop.training.data import default_dataset

    return default_dataset(settings.home)
