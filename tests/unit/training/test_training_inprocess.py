"""Training steps in one process on a real MLflow SQLite store: every estimator registers and loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeloop.registry.mlflow_registry import MlflowRegistry
from kubeloop.registry.names import (
    REFERENCE_SAMPLE_PATH,
    TAG_ARTIFACT_SHA256,
    TAG_DATA_DIGEST,
    TAG_GATE_VERDICT,
)
from kubeloop.settings import Settings, load_settings
from kubeloop.training.config import TrainingConfig
from kubeloop.training.outcome import TrainingOutcome, find_outcome, run_in_process


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """An isolated KUBELOOP_HOME with the default SQLite registry."""
    return load_settings({"KUBELOOP_HOME": str(tmp_path_factory.mktemp("inproc"))}).ensure_dirs()


@pytest.fixture(scope="module")
def outcomes(home: Settings) -> list[TrainingOutcome]:
    """Gradient boosting (v1), random forest with a lenient gate (v2), then a run the gate refuses."""
    runs = [
        {"estimator": "gradient_boosting", "hyperparams": {"n_estimators": 20}},
        {"estimator": "random_forest", "hyperparams": {"n_estimators": 20}, "gate_min_improvement": -1},
        {"estimator": "logistic", "gate_min_improvement": 0.5},
    ]
    return [run_in_process(TrainingConfig.from_params(params), settings=home) for params in runs]


def test_first_version_is_champion_then_challenger_then_nothing(
    home: Settings, outcomes: list[TrainingOutcome]
) -> None:
    assert [o.version for o in outcomes] == ["1", "2", None]
    assert outcomes[2].reason.startswith("f1 ") and "is below the required +0.5000" in outcomes[2].reason
    registry = MlflowRegistry.from_settings(home)
    assert registry.get_model("iris-classifier").aliases == {"champion": "1", "challenger": "2"}
    assert [v.version for v in registry.list_versions("iris-classifier")] == ["2", "1"]


@pytest.mark.parametrize("version", ["1", "2"])
def test_tree_ensembles_load_from_the_verified_artifact(home: Settings, version: str, tmp_path: Path) -> None:
    import mlflow.pyfunc
    import pandas as pd

    from kubeloop.training.data import default_dataset

    registry = MlflowRegistry.from_settings(home)
    path = registry.download_verified(name="iris-classifier", version=version, dst=tmp_path)
    model = mlflow.pyfunc.load_model(str(path))
    assert model.metadata.signature is not None
    assert [c.name for c in model.metadata.signature.inputs.inputs][:2] == [
        "sepal_length_cm",
        "sepal_width_cm",
    ]
    rows = pd.read_csv(default_dataset(home.home)).drop(columns="target").head(3)
    assert len(model.predict(rows)) == 3
    assert (path / "input_example.json").is_file()
    tags = registry.get_version("iris-classifier", version).tags
    assert tags[TAG_GATE_VERDICT] == "passed" and len(tags[TAG_ARTIFACT_SHA256]) == 64
    assert len(tags[TAG_DATA_DIGEST]) == 64


def test_the_reference_sample_is_logged_beside_the_model(
    home: Settings, outcomes: list[TrainingOutcome]
) -> None:
    import pandas as pd

    from kubeloop.training.tracking import tracking_client

    client = tracking_client(home.tracking_uri)
    local = client.download_artifacts(outcomes[0].mlflow_run_id, REFERENCE_SAMPLE_PATH)
    sample = pd.read_parquet(local)
    assert list(sample.columns) == ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"]
    assert len(sample) == 114  # the whole training split (38 of each class): fewer rows than the sample size
    artifact_uri = client.get_run(outcomes[0].mlflow_run_id).info.artifact_uri
    assert artifact_uri.startswith(home.artifacts_dir.as_uri())  # never ./mlruns in the working directory


def test_a_refused_run_is_recorded_with_its_reason(home: Settings, outcomes: list[TrainingOutcome]) -> None:
    found = find_outcome(tracking_uri=home.tracking_uri, pipeline_run=outcomes[2].pipeline_run)
    assert found is not None and not found.passed and found.version is None
    assert found.model_name == "iris-classifier"
    assert found.reason == outcomes[2].reason
    assert set(found.metrics) == {"accuracy", "f1", "roc_auc"}


@pytest.mark.parametrize(
    ("name", "task", "params"),
    [
        ("binary-model", "binary", {"estimator": "logistic"}),
        (
            "regression-model",
            "regression",
            {"estimator": "gradient_boosting", "gate_metric": "rmse", "gate_threshold": 50.0},
        ),
    ],
)
def test_binary_with_a_category_and_regression_register_and_predict(
    home: Settings, tmp_path: Path, name: str, task: str, params: dict[str, object]
) -> None:
    import mlflow.pyfunc
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {"size": rng.normal(10, 3, 120), "shop": rng.choice(["north", "south", "east"], 120)}
    )
    signal = frame["size"] + frame["shop"].map({"north": 4.0, "south": 0.0, "east": -4.0})
    frame["target"] = (signal > 10).astype(int) if task == "binary" else signal * 10
    frame.to_csv(tmp_path / "table.csv", index=False)
    config = TrainingConfig.from_params({"data": str(tmp_path / "table.csv"), "model_name": name, **params})
    outcome = run_in_process(config, settings=home)
    assert outcome.passed and outcome.version == "1", outcome.reason
    registry = MlflowRegistry.from_settings(home)
    assert registry.get_version(name, "1").tags["kubeloop.task"] == task
    model = mlflow.pyfunc.load_model(
        str(registry.download_verified(name=name, version="1", dst=tmp_path / "m"))
    )
    predicted = model.predict(frame.drop(columns="target").head(4))
    assert len(predicted) == 4
