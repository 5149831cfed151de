"""The training steps as plain functions over files and model URIs; KFP components and in-process runs
call these.

load -> validate (and split) -> train (logs an MLflow model) -> evaluate (candidate and champion on the
holdout) -> gate (verdict on the candidate's run) -> register (only if passed). Each step imports
what it needs when it runs: a KFP task is a fresh process, and imports are most of its start-up.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from kubeloop.registry.names import (
    TAG_ESTIMATOR,
    TAG_GATE_CHAMPION_VALUE,
    TAG_GATE_METRIC,
    TAG_GATE_REASON,
    TAG_GATE_VALUE,
    TAG_GATE_VERDICT,
    TAG_MODEL_NAME,
    TAG_PIPELINE_RUN,
    TAG_TARGET,
    TAG_TASK,
)
from kubeloop.training.evaluation import Evaluation
from kubeloop.training.gate import GateDecision, GatePolicy
from kubeloop.training.validation import DataSchema


def load_step(*, data: str, table_out: Path) -> str:
    """Read the source table, store it as Parquet for the next steps, return its digest."""
    from kubeloop.training.data import data_digest, load_table

    frame = load_table(data)
    table_out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(table_out, index=False)
    return data_digest(frame)


def validate_step(
    *,
    table: Path,
    target: str,
    task: str = "auto",
    min_rows: int = 20,
    expected: str = "",
    test_size: float = 0.25,
    seed: int = 42,
    train_out: Path,
    holdout_out: Path,
) -> str:
    """Validate the table (against `expected`, a schema JSON, when given), split it; return the schema."""
    import pandas as pd

    from kubeloop.training.validation import check_expected, parse_expected, split_frame, validate_frame

    frame = pd.read_parquet(table)
    schema = validate_frame(frame, target=target, task=task, min_rows=min_rows)
    if expected.strip():
        check_expected(frame, schema, parse_expected(expected))
    parts = split_frame(frame, schema, test_size=test_size, seed=seed)
    for part, path in zip(parts, (train_out, holdout_out), strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        part.to_parquet(path, index=False)
    return schema_to_json(schema)


def train_step(
    *,
    train: Path,
    schema_json: str,
    estimator: str,
    hyperparams: str,
    seed: int,
    model_name: str,
    experiment: str,
    tracking_uri: str,
    artifact_root: str = "",
    pipeline_run: str = "",
) -> str:
    """Fit a scikit-learn estimator, log it (signature, input example) in a new MLflow run; return its URI."""
    import pandas as pd

    from kubeloop.training import tracking
    from kubeloop.training.config import TrainingConfig
    from kubeloop.training.estimators import build_model

    schema = schema_from_json(schema_json)
    frame = pd.read_parquet(train)
    features = frame[list(schema.features)]
    model = build_model(
        estimator=estimator,
        task=schema.task,
        hyperparams=TrainingConfig(hyperparams=hyperparams).hyperparameters,
        numeric=schema.numeric,
        categorical=schema.categorical,
        seed=seed,
    )
    model.fit(features, frame[schema.target])
    run_id = tracking.record_run(
        tracking_uri=tracking_uri,
        experiment_id=tracking.ensure_experiment(tracking_uri, experiment, artifact_root=artifact_root),
        params={"estimator": estimator, "hyperparams": hyperparams, "seed": seed, "rows": len(frame)},
        metrics={},
        tags={TAG_PIPELINE_RUN: pipeline_run, TAG_MODEL_NAME: model_name, TAG_ESTIMATOR: estimator},
    )
    model_uri = tracking.log_model(tracking_uri=tracking_uri, run_id=run_id, model=model, features=features)
    tracking.finish_run(tracking_uri=tracking_uri, run_id=run_id, tags={})
    return model_uri


def evaluate_step(
    *,
    model_uri: str,
    holdout: Path,
    target: str,
    task: str = "auto",
    model_name: str,
    tracking_uri: str,
    pipeline_run: str = "",
) -> Evaluation:
    """Score the candidate (any MLflow model) and the current champion on the same holdout.

    The metrics (and the champion's as `champion_<name>`) are logged on the candidate's run.
    """
    import tempfile

    import pandas as pd

    from kubeloop.training.champion import champion_scores, load_candidate, model_inputs
    from kubeloop.training.evaluation import score_model
    from kubeloop.training.validation import infer_task

    frame = pd.read_parquet(holdout)
    resolved = infer_task(frame[target]) if task == "auto" else task
    features, labels = frame.drop(columns=[target]), frame[target]
    with tempfile.TemporaryDirectory(prefix="kubeloop-evaluate-") as scratch:
        candidate, run_id = load_candidate(tracking_uri, model_uri, Path(scratch))
        scores = score_model(candidate, model_inputs(candidate, features), labels, task=resolved)
        champion = champion_scores(tracking_uri, model_name, features, labels, resolved, Path(scratch))
    evaluation = Evaluation(
        model_uri=model_uri, run_id=run_id, model_name=model_name, task=resolved, metrics=scores, **champion
    )
    champion_metrics = evaluation.champion_metrics
    if run_id is not None:
        from kubeloop.training.tracking import annotate_run

        annotate_run(
            tracking_uri=tracking_uri,
            run_id=run_id,
            metrics={**scores, **{f"champion_{k}": v for k, v in (champion_metrics or {}).items()}},
            tags={TAG_TASK: resolved, TAG_TARGET: target, TAG_MODEL_NAME: model_name}
            | ({TAG_PIPELINE_RUN: pipeline_run} if pipeline_run else {}),
        )
    return evaluation


def gate_step(*, evaluation: Evaluation, policy: GatePolicy, tracking_uri: str) -> GateDecision:
    """Decide the quality gate on an evaluation; the verdict and reason are tagged on the candidate's run."""
    from dataclasses import replace

    from kubeloop.training.gate import check_metric, decide

    check_metric(policy.metric)  # an unknown metric fails the task, naming it
    decision = decide(policy, evaluation.metrics, evaluation.champion_metrics)
    decision = replace(decision, reason=f"{decision.reason}{evaluation.note}")
    if evaluation.run_id is not None:
        from kubeloop.training.tracking import annotate_run

        tags = gate_tags(decision)
        annotate_run(tracking_uri=tracking_uri, run_id=evaluation.run_id, metrics={}, tags=tags)
    return decision


def register_step(
    *,
    model_uri: str,
    model_name: str,
    reference: Path,
    data_digest: str,
    tracking_uri: str,
    holdout: Path | None = None,
    pipeline_run: str = "",
    artifact_root: str = "",
) -> str:
    """Register the candidate with its drift reference (the training inputs, Parquet) and, for a
    scikit-learn model, an ONNX serving copy proved on the holdout; return the version."""
    import pandas as pd

    from kubeloop.training.registration import register_model

    registration = register_model(
        tracking_uri=tracking_uri,
        model_uri=model_uri,
        name=model_name,
        reference=pd.read_parquet(reference),
        reference_name="the training data",
        check_rows=None if holdout is None else pd.read_parquet(holdout),
        data_digest=data_digest,
        registered_by=f"pipeline run {pipeline_run}" if pipeline_run else "pipeline",
        artifact_root=artifact_root,
    )
    return registration.version


def gate_tags(decision: GateDecision) -> dict[str, str]:
    """The gate's verdict as run and version tags."""
    tags = {
        TAG_GATE_METRIC: decision.metric,
        TAG_GATE_VERDICT: decision.verdict,
        TAG_GATE_REASON: decision.reason,
    }
    if decision.value is not None:
        tags[TAG_GATE_VALUE] = f"{decision.value:.6g}"
    if decision.champion_value is not None:
        tags[TAG_GATE_CHAMPION_VALUE] = f"{decision.champion_value:.6g}"
    return tags


def schema_to_json(schema: DataSchema) -> str:
    """The schema as the JSON string KFP carries between components."""
    return json.dumps(asdict(schema), sort_keys=True)


def schema_from_json(text: str) -> DataSchema:
    """The schema back from its JSON string."""
    raw: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(text).items()}
    return DataSchema(**raw)
