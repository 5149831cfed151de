"""The `training` pipeline: load -> validate -> train -> evaluate -> register (under dsl.If on the gate).

Each component is a thin KFP v2 lightweight component: it imports kubeloop inside its body (the
function's source is what runs in the task's process or container) and calls one step of
`kubeloop.training.steps`. The image is kubeloop's platform image, which carries kfp and kubeloop.
"""

# No `from __future__ import annotations`: KFP reads the parameter types from real annotations.
from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Dataset, Input, Model, Output

from kubeloop import __version__

IMAGE = f"ghcr.io/kubeloop/kubeloop:{__version__}"


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def load_data(
    data: str,
    target: str,
    task: str,
    model_name: str,
    estimator: str,
    hyperparams: str,
    test_size: float,
    seed: int,
    min_rows: int,
    gate_metric: str,
    gate_threshold: float,
    gate_min_improvement: float,
    experiment: str,
    table: Output[Dataset],
) -> NamedTuple("Loaded", [("digest", str), ("config", str)]):  # type: ignore[valid-type]  # noqa: UP014
    """Check the parameters, read the data source and store it as Parquet."""
    import json
    from collections import namedtuple
    from pathlib import Path

    from kubeloop.settings import load_settings
    from kubeloop.training.config import TrainingConfig
    from kubeloop.training.data import default_dataset
    from kubeloop.training.steps import load_step

    config = TrainingConfig(
        data=data,
        target=target,
        task=task,
        model_name=model_name,
        estimator=estimator,
        hyperparams=hyperparams,
        test_size=test_size,
        seed=seed,
        min_rows=min_rows,
        gate_metric=gate_metric,
        gate_threshold=gate_threshold,
        gate_min_improvement=gate_min_improvement,
        experiment=experiment,
    )
    config.check()
    source = data or str(default_dataset(load_settings().home))
    digest = load_step(data=source, table_out=Path(table.path))
    return namedtuple("Loaded", ["digest", "config"])(digest, json.dumps(config.as_params()))


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def validate_data(
    table: Input[Dataset], config: str, train: Output[Dataset], holdout: Output[Dataset]
) -> str:
    """Validate schema, missing values, target and row count; split into train and holdout."""
    import json
    from pathlib import Path

    from kubeloop.training.config import TrainingConfig
    from kubeloop.training.steps import validate_step

    return validate_step(
        table=Path(table.path),
        config=TrainingConfig(**json.loads(config)),
        train_out=Path(train.path),
        holdout_out=Path(holdout.path),
    )


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def train_model(train: Input[Dataset], schema: str, config: str, model: Output[Model]) -> None:
    """Fit the configured scikit-learn estimator."""
    import json
    from pathlib import Path

    from kubeloop.training.config import TrainingConfig
    from kubeloop.training.steps import train_step

    train_step(
        train=Path(train.path),
        schema_json=schema,
        config=TrainingConfig(**json.loads(config)),
        model_out=Path(model.path),
    )


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def evaluate_model(
    model: Input[Model],
    holdout: Input[Dataset],
    schema: str,
    config: str,
    digest: str,
    tracking_uri: str,
    artifact_root: str,
    pipeline_run: str,
) -> bool:
    """Score candidate and champion on the holdout, apply the quality gate, record the MLflow run.

    Its one output is the verdict (the run record, tagged with `pipeline_run`, holds the rest): a
    single `Output` is what kfp.local can resolve in a dsl.If condition.
    """
    import json
    from pathlib import Path

    from kubeloop.training.config import TrainingConfig
    from kubeloop.training.steps import evaluate_step

    result = evaluate_step(
        model=Path(model.path),
        holdout=Path(holdout.path),
        schema_json=schema,
        config=TrainingConfig(**json.loads(config)),
        digest=digest,
        tracking_uri=tracking_uri,
        artifact_root=artifact_root,
        pipeline_run=pipeline_run,
    )
    print(f"quality gate {'passed' if result.passed else 'failed'}: {result.reason}")
    return result.passed


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def register_model(
    model: Input[Model],
    train: Input[Dataset],
    holdout: Input[Dataset],
    schema: str,
    config: str,
    tracking_uri: str,
    pipeline_run: str,
) -> str:
    """Log model, signature and reference sample; register the version as champion or challenger."""
    import json
    from pathlib import Path

    from kubeloop.training.config import TrainingConfig
    from kubeloop.training.steps import register_step

    return register_step(
        model=Path(model.path),
        train=Path(train.path),
        schema_json=schema,
        config=TrainingConfig(**json.loads(config)),
        tracking_uri=tracking_uri,
        pipeline_run=pipeline_run,
        holdout=Path(holdout.path),
    )


@dsl.pipeline(name="training", description="Train, evaluate and register a scikit-learn model in MLflow.")
def training_pipeline(
    tracking_uri: str,
    data: str = "",
    target: str = "target",
    task: str = "auto",
    model_name: str = "iris-classifier",
    estimator: str = "logistic",
    hyperparams: str = "{}",
    test_size: float = 0.25,
    seed: int = 42,
    min_rows: int = 20,
    gate_metric: str = "",
    gate_threshold: float = 0.7,
    gate_min_improvement: float = 0.0,
    experiment: str = "kubeloop-training",
    artifact_root: str = "",
    pipeline_run: str = "",
) -> None:
    """The training pipeline; `pipeline_run` tags the MLflow run so callers can find the outcome."""
    loaded = load_data(
        data=data,
        target=target,
        task=task,
        model_name=model_name,
        estimator=estimator,
        hyperparams=hyperparams,
        test_size=test_size,
        seed=seed,
        min_rows=min_rows,
        gate_metric=gate_metric,
        gate_threshold=gate_threshold,
        gate_min_improvement=gate_min_improvement,
        experiment=experiment,
    )
    config = loaded.outputs["config"]
    validated = validate_data(table=loaded.outputs["table"], config=config)
    schema = validated.outputs["Output"]
    trained = train_model(train=validated.outputs["train"], schema=schema, config=config)
    evaluated = evaluate_model(
        model=trained.outputs["model"],
        holdout=validated.outputs["holdout"],
        schema=schema,
        config=config,
        digest=loaded.outputs["digest"],
        tracking_uri=tracking_uri,
        artifact_root=artifact_root,
        pipeline_run=pipeline_run,
    )
    with dsl.If(evaluated.output == True, name="quality-gate"):  # noqa: E712 - a KFP condition
        register_model(
            model=trained.outputs["model"],
            train=validated.outputs["train"],
            holdout=validated.outputs["holdout"],
            schema=schema,
            config=config,
            tracking_uri=tracking_uri,
            pipeline_run=pipeline_run,
        )
