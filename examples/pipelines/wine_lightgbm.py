"""A pipeline of your own: LightGBM on scikit-learn's wine data, through kubeloop's reusable components.

    kubeloop pipeline run examples/pipelines/wine_lightgbm.py:wine_lightgbm -p num_leaves=15
    kubeloop pipeline compile examples/pipelines/wine_lightgbm.py -o wine.yaml      # for a KFP cluster

Two components are yours (loading the data, training the model and logging it to MLflow); the
validation, the evaluation against the current champion, the quality gate and the registration
(artifact digest, data digest, drift reference, champion/challenger alias) are kubeloop's.
"""

from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from kubeloop.components import evaluate_model, quality_gate, register_model, validate_table
from kubeloop.components.library import IMAGE  # kubeloop's image carries LightGBM and MLflow


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def wine_table(table: Output[Dataset]) -> None:
    """The wine data set that scikit-learn ships, as Parquet (13 measurements, 3 cultivars)."""
    from sklearn.datasets import load_wine

    load_wine(as_frame=True).frame.to_parquet(table.path, index=False)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def train_lightgbm(train: Input[Dataset], target: str, num_leaves: int, learning_rate: float) -> str:
    """Fit a LightGBM classifier and log it to MLflow with its signature; return the model's URI."""
    from kubeloop.components.task import end_without_teardown, use_experiment

    end_without_teardown()
    import lightgbm
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature

    frame = pd.read_parquet(train.path)
    features, labels = frame.drop(columns=[target]), frame[target]
    model = lightgbm.LGBMClassifier(
        num_leaves=num_leaves, learning_rate=learning_rate, n_estimators=60, verbose=-1, random_state=0
    ).fit(features, labels)
    use_experiment("wine-lightgbm")
    with mlflow.start_run():
        mlflow.log_params({"num_leaves": num_leaves, "learning_rate": learning_rate})
        info = mlflow.lightgbm.log_model(
            model,
            name="model",
            signature=infer_signature(features, model.predict(features)),
            input_example=features.head(5),
            pip_requirements=["lightgbm", "pandas"],
        )
    return str(info.model_uri)


@dsl.pipeline(name="wine-lightgbm", description="LightGBM on the wine data, gated against the champion.")
def wine_lightgbm(
    model_name: str = "wine", num_leaves: int = 15, learning_rate: float = 0.1, min_f1: float = 0.85
) -> None:
    """Register `model_name` when LightGBM's holdout F1 reaches `min_f1`, no worse than the champion's."""
    checked = validate_table(table=wine_table().outputs["table"], target="target")
    model_uri = train_lightgbm(
        train=checked.outputs["train"], target="target", num_leaves=num_leaves, learning_rate=learning_rate
    ).output
    scored = evaluate_model(
        model_uri=model_uri, holdout=checked.outputs["holdout"], target="target", model_name=model_name
    )
    gate = quality_gate(evaluation=scored.output, metric="f1", threshold=min_f1)
    with dsl.If(gate.output == True, name="passed"):  # noqa: E712 - a KFP condition
        register_model(model_uri=model_uri, model_name=model_name, reference=checked.outputs["train"],
                       holdout=checked.outputs["holdout"])
