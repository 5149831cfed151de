"""The built-in `training` pipeline: one composition of the reusable components plus a scikit-learn trainer.

load_table -> validate_table -> train_sklearn (logs the model to MLflow) -> evaluate_model ->
quality_gate -> register_model (under dsl.If on the gate). A user's pipeline swaps `train_sklearn`
for their own component that logs any MLflow model and returns its URI; everything else is the same.
"""

# No `from __future__ import annotations`: KFP reads the parameter types from real annotations.
from kfp import dsl
from kfp.dsl import Dataset, Input

from kubeloop.components.library import (
    IMAGE,
    evaluate_model,
    load_table,
    quality_gate,
    register_model,
    validate_table,
)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def train_sklearn(
    train: Input[Dataset],
    schema: str,
    estimator: str,
    hyperparams: str,
    seed: int,
    model_name: str,
    experiment: str,
) -> str:
    """Fit a scikit-learn estimator (logistic, random_forest, gradient_boosting) on the training split
    (with its sample weights when the schema names them), log it to MLflow with its signature and input
    example; return the model's URI."""
    from kubeloop.components.task import context, end_without_teardown

    end_without_teardown()
    from pathlib import Path

    from kubeloop.training.steps import train_step

    found = context()
    return train_step(
        train=Path(train.path),
        schema_json=schema,
        estimator=estimator,
        hyperparams=hyperparams,
        seed=seed,
        model_name=model_name,
        experiment=experiment,
        tracking_uri=found["tracking_uri"],
        artifact_root=found["artifact_root"],
        pipeline_run=found["pipeline_run"],
    )


@dsl.pipeline(name="training", description="Train, evaluate and register a scikit-learn model in MLflow.")
def training_pipeline(
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
    train_on: str = "reference",
    labels_from: str = "",
    labels_window: str = "",
    labeled_share: float = 0.5,
    weight_column: str = "",
) -> None:
    """The training pipeline; `data` empty means the iris example. `train_on` labeled or both trains on
    the labeled predictions of `labels_from` in `labels_window`, weighted by inclusion probability."""
    loaded = load_table(data=data, train_on=train_on, labels_from=labels_from, labels_window=labels_window,
                        labeled_share=labeled_share, target=target)
    checked = validate_table(
        table=loaded.outputs["table"],
        target=target,
        task=task,
        min_rows=min_rows,
        test_size=test_size,
        seed=seed,
        weight_column=weight_column,
    )
    trained = train_sklearn(
        train=checked.outputs["train"],
        schema=checked.outputs["Output"],
        estimator=estimator,
        hyperparams=hyperparams,
        seed=seed,
        model_name=model_name,
        experiment=experiment,
    )
    scored = evaluate_model(
        model_uri=trained.output,
        holdout=checked.outputs["holdout"],
        target=target,
        model_name=model_name,
        task=task,
    )
    gate = quality_gate(
        evaluation=scored.output,
        metric=gate_metric,
        threshold=gate_threshold,
        min_improvement=gate_min_improvement,
    )
    with dsl.If(gate.output == True, name="passed"):  # noqa: E712 - a KFP condition
        register_model(
            model_uri=trained.output,
            model_name=model_name,
            reference=checked.outputs["train"],
            holdout=checked.outputs["holdout"],
            data_digest=loaded.outputs["Output"],
        )
