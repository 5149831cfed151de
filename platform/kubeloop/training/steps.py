"""The five training steps as plain functions over files; KFP components and in-process runs call these.

load -> validate (and split) -> train -> evaluate (+ gate, MLflow run record) -> register (only if passed).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kubeloop.errors import KubeloopError
from kubeloop.registry.mlflow_registry import MlflowRegistry, check_reachable
from kubeloop.registry.names import (
    CHALLENGER,
    CHAMPION,
    TAG_DATA_DIGEST,
    TAG_ESTIMATOR,
    TAG_GATE_CHAMPION_VALUE,
    TAG_GATE_METRIC,
    TAG_GATE_REASON,
    TAG_GATE_VALUE,
    TAG_GATE_VERDICT,
    TAG_MODEL_VERSION,
    TAG_PIPELINE_RUN,
    TAG_TARGET,
    TAG_TASK,
)
from kubeloop.training import tracking
from kubeloop.training.config import TrainingConfig
from kubeloop.training.data import data_digest, load_table
from kubeloop.training.evaluation import evaluate
from kubeloop.training.gate import GateDecision, decide
from kubeloop.training.validation import DataSchema, validate_frame


@dataclass(frozen=True, kw_only=True)
class Evaluation:
    """What the evaluate step hands on: the gate decision and the MLflow run that records it."""

    passed: bool
    reason: str
    run_id: str
    metrics: dict[str, float]


def load_step(*, data: str, table_out: Path) -> str:
    """Read the source table, store it as Parquet for the next steps, return its digest."""
    frame = load_table(data)
    table_out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(table_out, index=False)
    return data_digest(frame)


def validate_step(*, table: Path, config: TrainingConfig, train_out: Path, holdout_out: Path) -> str:
    """Validate the table, split it into train and holdout (stratified for classifiers); return the schema."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    frame = pd.read_parquet(table)
    schema = validate_frame(frame, target=config.target, task=config.task, min_rows=config.min_rows)
    stratify = None if schema.task == "regression" else frame[schema.target].astype(str)
    train, holdout = train_test_split(
        frame[[*schema.features, schema.target]],
        test_size=config.test_size,
        random_state=config.seed,
        stratify=stratify,
    )
    for part, path in ((train, train_out), (holdout, holdout_out)):
        path.parent.mkdir(parents=True, exist_ok=True)
        part.to_parquet(path, index=False)
    return schema_to_json(schema)


def train_step(*, train: Path, schema_json: str, config: TrainingConfig, model_out: Path) -> None:
    """Fit the configured estimator on the training split and save it for evaluate and register."""
    import joblib
    import pandas as pd

    from kubeloop.training.estimators import build_model

    schema = schema_from_json(schema_json)
    frame = pd.read_parquet(train)
    model = build_model(
        estimator=config.estimator,
        task=schema.task,
        hyperparams=config.hyperparameters,
        numeric=schema.numeric,
        categorical=schema.categorical,
        seed=config.seed,
    )
    model.fit(frame[list(schema.features)], frame[schema.target])
    model_out.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, model_out)


def evaluate_step(
    *,
    model: Path,
    holdout: Path,
    schema_json: str,
    config: TrainingConfig,
    digest: str,
    tracking_uri: str,
    artifact_root: str,
    pipeline_run: str,
) -> Evaluation:
    """Score the candidate and the current champion on the holdout, decide the gate, record an MLflow run."""
    import joblib
    import pandas as pd

    check_reachable(tracking_uri)
    schema = schema_from_json(schema_json)
    frame = pd.read_parquet(holdout)
    features, labels = frame[list(schema.features)], frame[schema.target]
    scores = evaluate(joblib.load(model), features, labels, task=schema.task)
    champion_scores, note = _champion_scores(tracking_uri, config.model_name, features, labels, schema.task)
    decision = decide(config.gate_policy(schema.task), scores, champion_scores)
    reason = f"{decision.reason}{note}"
    experiment_id = tracking.ensure_experiment(tracking_uri, config.experiment, artifact_root=artifact_root)
    run_id = tracking.record_run(
        tracking_uri=tracking_uri,
        experiment_id=experiment_id,
        params={**config.as_params(), "resolved_task": schema.task, "rows": schema.rows},
        metrics={**scores, **{f"champion_{k}": v for k, v in (champion_scores or {}).items()}},
        tags={
            **_gate_tags(decision, reason),
            TAG_DATA_DIGEST: digest,
            TAG_TASK: schema.task,
            TAG_TARGET: schema.target,
            TAG_ESTIMATOR: config.estimator,
            TAG_PIPELINE_RUN: pipeline_run,
        },
    )
    if not decision.passed:
        tracking.finish_run(tracking_uri=tracking_uri, run_id=run_id, tags={})
    return Evaluation(passed=decision.passed, reason=reason, run_id=run_id, metrics=scores)


def register_step(
    *,
    model: Path,
    train: Path,
    schema_json: str,
    config: TrainingConfig,
    tracking_uri: str,
    pipeline_run: str,
    holdout: Path | None = None,
) -> str:
    """Log the model and reference artefacts on the evaluate step's run; register a version.

    The first version of a model becomes champion, later ones challenger. The servers' ONNX copy
    is proved on `holdout` (the training rows when it is not given).
    """
    run = tracking.find_run(
        tracking_uri=tracking_uri, experiment=config.experiment, pipeline_run=pipeline_run
    )
    if run is None:
        raise KubeloopError(f"no MLflow run is tagged with pipeline run {pipeline_run!r}")
    run_id = run.info.run_id
    try:
        version = _log_and_register(
            model=model,
            train=train,
            schema_json=schema_json,
            config=config,
            run_id=run_id,
            tracking_uri=tracking_uri,
            holdout=holdout,
        )
    except BaseException:
        tracking.finish_run(tracking_uri=tracking_uri, run_id=run_id, tags={}, failed=True)
        raise
    tracking.finish_run(tracking_uri=tracking_uri, run_id=run_id, tags={TAG_MODEL_VERSION: version})
    return version


def _log_and_register(
    *, model: Path, train: Path, schema_json: str, config: TrainingConfig, run_id: str, tracking_uri: str,
    holdout: Path | None,
) -> str:
    import joblib
    import pandas as pd

    from kubeloop.serving.core.onnx_copy import attach_onnx_copy, logged_model_location

    schema = schema_from_json(schema_json)
    fitted = joblib.load(model)
    features = pd.read_parquet(train)[list(schema.features)]
    tracking.log_reference_artifacts(
        tracking_uri=tracking_uri, run_id=run_id, train_features=features, seed=config.seed,
        predictions=fitted.predict(features),
    )
    model_uri = tracking.log_model(tracking_uri=tracking_uri, run_id=run_id, model=fitted, features=features)
    checked = pd.read_parquet(holdout)[list(schema.features)] if holdout else features
    serving_tags = attach_onnx_copy(
        tracking_uri=tracking_uri,
        location=logged_model_location(tracking_uri, model_uri),
        model=fitted,
        features=checked,
    )
    run_tags = tracking.tracking_client(tracking_uri).get_run(run_id).data.tags
    registry = MlflowRegistry(tracking_uri=tracking_uri)
    first = registry.version_for_alias(config.model_name, CHAMPION) is None
    version = registry.register(
        name=config.model_name,
        model_uri=model_uri,
        run_id=run_id,
        tags={**{key: run_tags[key] for key in _VERSION_TAGS if key in run_tags}, **serving_tags},
        aliases=[CHAMPION if first else CHALLENGER],
    )
    return version.version


def schema_to_json(schema: DataSchema) -> str:
    """The schema as the JSON string KFP carries between components."""
    return json.dumps(asdict(schema), sort_keys=True)


def schema_from_json(text: str) -> DataSchema:
    """The schema back from its JSON string."""
    raw: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(text).items()}
    return DataSchema(**raw)


_VERSION_TAGS = (
    TAG_DATA_DIGEST,
    TAG_TASK,
    TAG_TARGET,
    TAG_ESTIMATOR,
    TAG_PIPELINE_RUN,
    TAG_GATE_METRIC,
    TAG_GATE_VALUE,
    TAG_GATE_VERDICT,
    TAG_GATE_REASON,
    TAG_GATE_CHAMPION_VALUE,
)


def _gate_tags(decision: GateDecision, reason: str) -> dict[str, str]:
    tags = {TAG_GATE_METRIC: decision.metric, TAG_GATE_VERDICT: decision.verdict, TAG_GATE_REASON: reason}
    if decision.value is not None:
        tags[TAG_GATE_VALUE] = f"{decision.value:.6g}"
    if decision.champion_value is not None:
        tags[TAG_GATE_CHAMPION_VALUE] = f"{decision.champion_value:.6g}"
    return tags


def _champion_scores(
    tracking_uri: str, name: str, features: Any, labels: Any, task: str
) -> tuple[dict[str, float] | None, str]:
    """The champion's metrics on the same holdout, or None with a note when it cannot be compared."""
    import mlflow.sklearn

    registry = MlflowRegistry(tracking_uri=tracking_uri)
    champion = registry.version_for_alias(name, CHAMPION)
    if champion is None:
        return None, ""
    path = registry.download_verified(name=name, version=champion.version)
    try:
        return evaluate(mlflow.sklearn.load_model(str(path)), features, labels, task=task), ""
    except (KeyError, ValueError, TypeError) as error:
        # A champion trained on other columns or another task cannot score this holdout.
        first = str(error).splitlines()[0][:120]
        return None, f" (champion v{champion.version} could not score this holdout: {first})"
