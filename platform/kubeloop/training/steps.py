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
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from kubeloop.settings import Settings


def load_step(
    *,
    data: str,
    table_out: Path,
    train_on: str = "reference",
    labels_from: str = "",
    labels_window: str = "",
    labeled_share: float = 0.5,
    target: str = "target",
    settings: Settings | None = None,
) -> str:
    """Read the training table (see `training_frame`), store it as Parquet for the next steps, return
    its digest."""
    from kubeloop.training.data import data_digest

    frame = training_frame(data=data, train_on=train_on, labels_from=labels_from, labels_window=labels_window,
                           labeled_share=labeled_share, target=target, settings=settings)
    if train_on != "reference":
        print(f"training table: {len(frame)} rows, {train_on} (labels of {labels_from}, {labels_window})")
    table_out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(table_out, index=False)
    return data_digest(frame)


def training_frame(
    *, data: str, train_on: str, labels_from: str, labels_window: str, labeled_share: float, target: str,
    settings: Settings | None = None,
) -> Any:
    """The source table, a deployment's labeled window, or both mixed (kubeloop.training.tables), as one
    frame; `data` is not read with train_on labeled. Labels come from the home of `settings` (default:
    this process's, which the runners set for every task)."""
    from kubeloop.training.data import load_table
    from kubeloop.training.labeled import check_params

    check_params(train_on=train_on, labels_from=labels_from, labels_window=labels_window,
                 labeled_share=labeled_share)
    frame = load_table(data) if train_on != "labeled" else None
    if train_on == "reference":
        return frame
    from kubeloop.training.tables import training_table

    labeled = read_labeled(deployment=labels_from, window=labels_window, settings=settings)
    return training_table(train_on="labeled" if train_on == "labeled" else "both", target=target,
                          share=labeled_share, reference=frame, labeled=labeled)


def read_labeled(*, deployment: str, window: str, settings: Settings | None = None) -> Any:
    """The labeled predictions of `deployment` in the window, from the home's label store."""
    from kubeloop.labels.store import LocalLabelStore
    from kubeloop.settings import load_settings
    from kubeloop.training.labeled import parse_window

    since, until = parse_window(window)
    return LocalLabelStore.from_settings(settings or load_settings()).read(deployment, since, until)


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
    weight_column: str = "",
) -> str:
    """Validate the table (against `expected`, a schema JSON, when given), split it; return the schema.

    Sample weights (`weight_column`, else a `sample_weight` column) are checked, kept out of the
    features and written to both parts as `sample_weight`, where the next steps find them."""
    import pandas as pd

    from kubeloop.training.validation import check_expected, parse_expected, split_frame, validate_frame

    frame = with_weights(pd.read_parquet(table), weight_column)
    schema = validate_frame(frame, target=target, task=task, min_rows=min_rows)
    if expected.strip():
        check_expected(frame, schema, parse_expected(expected))
    parts = split_frame(frame, schema, test_size=test_size, seed=seed)
    for part, path in zip(parts, (train_out, holdout_out), strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        part.to_parquet(path, index=False)
    return schema_to_json(schema)


def with_weights(frame: Any, weight_column: str) -> Any:
    """The table with its weights checked and named `sample_weight`, or unchanged when it has none."""
    from kubeloop.training.labeled import WEIGHT_COLUMN
    from kubeloop.training.tables import check_weights, weight_column_of

    column = weight_column_of(frame, weight_column)
    if not column:
        return frame
    check_weights(frame[column], column=column)
    return frame.rename(columns={column: WEIGHT_COLUMN}) if column != WEIGHT_COLUMN else frame


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
    # Sample weights go to the estimator step of the pipeline (scikit-learn routes `<step>__<param>`).
    weights = {"model__sample_weight": frame[schema.weight].to_numpy()} if schema.weight else {}
    model.fit(features, frame[schema.target], **weights)
    run_id = tracking.record_run(
        tracking_uri=tracking_uri,
        experiment_id=tracking.ensure_experiment(tracking_uri, experiment, artifact_root=artifact_root),
        params={"estimator": estimator, "hyperparams": hyperparams, "seed": seed, "rows": len(frame),
                "sample_weights": schema.weight or "none"},
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
    """Score the candidate (any MLflow model) and the current champion on the same holdout, both
    weighted by its `sample_weight` column when it has one.

    The metrics (and the champion's as `champion_<name>`) are logged on the candidate's run.
    """
    import tempfile

    import pandas as pd

    from kubeloop.training.champion import champion_scores, load_candidate, model_inputs
    from kubeloop.training.evaluation import score_model
    from kubeloop.training.labeled import WEIGHT_COLUMN
    from kubeloop.training.validation import infer_task

    frame = pd.read_parquet(holdout)
    resolved = infer_task(frame[target]) if task == "auto" else task
    weighted = WEIGHT_COLUMN in frame.columns and target != WEIGHT_COLUMN
    weights = frame[WEIGHT_COLUMN].to_numpy(dtype=float) if weighted else None
    features, labels = frame.drop(columns=[target, *([WEIGHT_COLUMN] if weighted else [])]), frame[target]
    with tempfile.TemporaryDirectory(prefix="kubeloop-evaluate-") as scratch:
        candidate, run_id = load_candidate(tracking_uri, model_uri, Path(scratch))
        inputs = model_inputs(candidate, features)
        scores = score_model(candidate, inputs, labels, task=resolved, weights=weights)
        champion = champion_scores(tracking_uri, model_name, features, labels, resolved, Path(scratch),
                                   weights=weights)
    if weighted:
        weighing = f" (holdout of {len(frame)} rows weighted by {WEIGHT_COLUMN})"
        champion["note"] = f"{champion.get('note', '')}{weighing}"
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
    from kubeloop.training.tables import resampled

    registration = register_model(
        tracking_uri=tracking_uri,
        model_uri=model_uri,
        name=model_name,
        # A weighted table stands for the distribution its weights describe; so must the drift reference.
        reference=resampled(pd.read_parquet(reference), seed=0),
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
