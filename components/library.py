"""kubeloop's reusable KFP v2 components: compose them in your own `@dsl.pipeline`.

    from kubeloop.components import evaluate_model, quality_gate, register_model, validate_table

    checked = validate_table(table=my_table.outputs["table"], target="label")
    model_uri = my_training(train=checked.outputs["train"]).output        # logs any MLflow model
    scored = evaluate_model(model_uri=model_uri, holdout=checked.outputs["holdout"],
                            target="label", model_name="wine")
    gate = quality_gate(evaluation=scored.output, metric="f1", threshold=0.8)
    with dsl.If(gate.output == True):
        register_model(model_uri=model_uri, model_name="wine", reference=checked.outputs["train"],
                       holdout=checked.outputs["holdout"])

Each is a lightweight component: its body imports kubeloop where it runs and calls one step of
`kubeloop.training.steps`, importing only what that step needs. The tracking server and the
pipeline run id come from the task's environment (the runners set them). The gate's verdict is its
only output, because a single output is what kfp.local resolves in a `dsl.If` condition.
"""

# No `from __future__ import annotations`: KFP reads the parameter types from real annotations.
from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from kubeloop import __version__

IMAGE = f"ghcr.io/kubeloop/kubeloop:{__version__}"


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def load_table(
    data: str,
    table: Output[Dataset],
    train_on: str = "reference",
    labels_from: str = "",
    labels_window: str = "",
    labeled_share: float = 0.5,
    target: str = "target",
) -> str:
    """Read a CSV or Parquet path or URI (empty: the iris example) into a Dataset; return its data digest.

    With `train_on` labeled (or both), the table is the labeled predictions of deployment `labels_from`
    made in `labels_window` (`SINCE..UNTIL` or a duration such as 1d): logged inputs, the label as
    `target`, a `sample_weight` of 1 / inclusion probability (alone, or mixed with `data` so that the
    labeled rows carry `labeled_share` of the weight)."""
    from kubeloop.components.task import end_without_teardown

    end_without_teardown()
    from pathlib import Path

    from kubeloop.training.steps import load_step

    if not data and train_on != "labeled":
        from kubeloop.settings import load_settings
        from kubeloop.training.data import default_dataset

        data = str(default_dataset(load_settings().home))
    return load_step(data=data, table_out=Path(table.path), train_on=train_on, labels_from=labels_from,
                     labels_window=labels_window, labeled_share=labeled_share, target=target)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def validate_table(
    table: Input[Dataset],
    target: str,
    train: Output[Dataset],
    holdout: Output[Dataset],
    task: str = "auto",
    expected_schema: str = "",
    min_rows: int = 20,
    test_size: float = 0.25,
    seed: int = 42,
    weight_column: str = "",
) -> str:
    """Check a table (schema, missing values, ranges, target, rows; against `expected_schema` JSON when
    given) and split it into train and holdout; return the table's schema as JSON. Sample weights
    (`weight_column`, else a `sample_weight` column) stay out of the features and reach both parts
    as `sample_weight`, which the trainer fits with and `evaluate_model` weighs the holdout by."""
    from kubeloop.components.task import end_without_teardown

    end_without_teardown()
    from pathlib import Path

    from kubeloop.training.steps import validate_step

    return validate_step(
        table=Path(table.path),
        target=target,
        task=task,
        min_rows=min_rows,
        expected=expected_schema,
        test_size=test_size,
        seed=seed,
        train_out=Path(train.path),
        holdout_out=Path(holdout.path),
        weight_column=weight_column,
    )


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def evaluate_model(
    model_uri: str, holdout: Input[Dataset], target: str, model_name: str, task: str = "auto"
) -> str:
    """Score a candidate (any MLflow model URI) and `model_name`'s champion on the same holdout with the
    task's metrics (weighted by its `sample_weight` column when it has one); log them on the candidate's
    run; return the evaluation as JSON."""
    from kubeloop.components.task import context, end_without_teardown

    end_without_teardown()
    from pathlib import Path

    from kubeloop.training.steps import evaluate_step

    found = context()
    evaluation = evaluate_step(
        model_uri=model_uri,
        holdout=Path(holdout.path),
        target=target,
        task=task,
        model_name=model_name,
        tracking_uri=found["tracking_uri"],
        pipeline_run=found["pipeline_run"],
    )
    print(f"candidate {evaluation.metrics}; champion {evaluation.champion_metrics}{evaluation.note}")
    return evaluation.to_json()


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def quality_gate(
    evaluation: str, metric: str = "", threshold: float = 0.7, min_improvement: float = 0.0
) -> bool:
    """Pass when `metric` (default f1, r2 for regression) reaches `threshold` (a maximum for rmse/mae)
    and beats the champion by `min_improvement`; the verdict and reason are tagged on the candidate's run."""
    from kubeloop.components.task import context, end_without_teardown

    end_without_teardown()
    from kubeloop.training.config import TrainingConfig
    from kubeloop.training.evaluation import Evaluation
    from kubeloop.training.steps import gate_step

    found = Evaluation.from_json(evaluation)
    policy = TrainingConfig(
        gate_metric=metric, gate_threshold=threshold, gate_min_improvement=min_improvement
    ).gate_policy(found.task)
    decision = gate_step(evaluation=found, policy=policy, tracking_uri=context()["tracking_uri"])
    print(f"quality gate {decision.verdict}: {decision.reason}")
    return decision.passed


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def register_model(
    model_uri: str, model_name: str, reference: Input[Dataset], holdout: Input[Dataset], data_digest: str = ""
) -> str:
    """Register the model (any flavour) with its artifact digest, data digest, gate tags and drift
    reference (sample and profile of `reference`): `champion` for a first version, `challenger` after.
    A scikit-learn model also gets an ONNX serving copy, kept only when proved equal on `holdout`."""
    from kubeloop.components.task import context, end_without_teardown

    end_without_teardown()
    from pathlib import Path

    from kubeloop.training.steps import register_step

    found = context()
    version = register_step(
        model_uri=model_uri,
        model_name=model_name,
        reference=Path(reference.path),
        holdout=Path(holdout.path),
        data_digest=data_digest,
        tracking_uri=found["tracking_uri"],
        pipeline_run=found["pipeline_run"],
        artifact_root=found["artifact_root"],
    )
    print(f"registered {model_name} version {version}")
    return version


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def start_rollout(deployment: str, version: str, strategy: str = "") -> str:
    """Start the rollout of `version` on a deployed ModelDeployment (shadow, canary steps, analysis);
    `strategy` is a rollout strategy YAML path (default: the deployment's). Returns the start message."""
    from kubeloop.components.task import end_without_teardown

    end_without_teardown()
    from kubeloop.rollout.launch import start_rollout as start

    message = start(deployment=deployment, version=version, strategy=strategy)
    print(message)
    return message
