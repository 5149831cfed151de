"""Served answers equal MLflow's own: every estimator the training pipeline offers, on numeric,
categorical and regression data, and a user's text pipeline; labels exactly, probabilities (and
regression values) within 1e-6. The models are registered by the real training steps on a real
MLflow store and loaded the way the servers load them (verified download, ONNX copy when proved)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from kubeloop.errors import IntegrityError
from kubeloop.registry.mlflow_registry import MlflowRegistry
from kubeloop.serving.core.estimators import estimator_predictor
from kubeloop.serving.core.model import LoadedModel, load_registered
from kubeloop.serving.core.onnx_copy import ONNX_COPY_PATH, TAG_ONNX_COPY, CopyCheck
from kubeloop.settings import Settings, load_settings
from kubeloop.training.config import TrainingConfig
from kubeloop.training.outcome import run_in_process

pytestmark = pytest.mark.slow
ESTIMATORS = ("logistic", "random_forest", "gradient_boosting")
SMALL = '{"n_estimators": 30}'


def iris_table(folder: Path, *, categorical: bool) -> Path:
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame
    frame.columns = [c.replace(" (cm)", "_cm").replace(" ", "_") for c in frame.columns]
    if categorical:
        sizes = pd.cut(frame["petal_length_cm"], [0.0, 2.5, 5.0, 10.0], labels=["small", "medium", "large"])
        frame.insert(4, "petal_size", sizes.astype(str))
        frame = frame.drop(columns=["petal_length_cm"])
    path = folder / f"iris-{'categorical' if categorical else 'numeric'}.csv"
    frame.to_csv(path, index=False)
    return path


def diabetes_table(folder: Path) -> Path:
    from sklearn.datasets import load_diabetes

    path = folder / "diabetes.csv"
    load_diabetes(as_frame=True).frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_settings({"KUBELOOP_HOME": str(tmp_path_factory.mktemp("equivalence"))}).ensure_dirs()


@pytest.fixture(scope="module")
def registered(home: Settings) -> dict[str, tuple[str, Path]]:
    """(model name, data file) per case, each registered by the training steps."""
    data = {"numeric": iris_table(home.home, categorical=False),
            "categorical": iris_table(home.home, categorical=True), "regression": diabetes_table(home.home)}
    cases = {}
    for dataset, path in data.items():
        for estimator in ESTIMATORS:
            name = f"{dataset}-{estimator}".replace("_", "-")
            hyperparams = "{}" if estimator == "logistic" else SMALL
            outcome = run_in_process(TrainingConfig.from_params(
                {"data": str(path), "model_name": name, "estimator": estimator, "hyperparams": hyperparams,
                 "gate_threshold": 0.0 if dataset == "regression" else 0.7}), settings=home)
            assert outcome.version == "1", outcome.reason
            cases[f"{dataset}/{estimator}"] = (name, path)
    return cases


def served_and_mlflow(home: Settings, name: str, frame: pd.DataFrame) -> tuple[LoadedModel, Any, Any]:
    """The served model, and MLflow's pyfunc and scikit-learn loads of the same verified artifact."""
    import mlflow.pyfunc
    import mlflow.sklearn

    model = load_registered(home, name=name, ref="1")
    path = MlflowRegistry(tracking_uri=home.tracking_uri).download_verified(name=name, version="1")
    return model, mlflow.pyfunc.load_model(str(path)), mlflow.sklearn.load_model(str(path))


def assert_same(answer: Any, pyfunc: Any, sklearn: Any, features: pd.DataFrame) -> None:
    expected = pyfunc.predict(features)
    if answer.classes is None:
        served = np.asarray(answer.predictions, dtype=float)
        assert np.all(np.abs(served - expected) <= 1e-6 * np.maximum(1.0, np.abs(expected)))
        return
    assert answer.predictions == np.asarray(expected).tolist()
    assert np.max(np.abs(np.asarray(answer.probabilities) - sklearn.predict_proba(features))) <= 1e-6


@pytest.mark.parametrize("case", [f"{d}/{e}" for d in ("numeric", "categorical", "regression")
                                  for e in ESTIMATORS])
def test_served_answers_equal_mlflows_on_every_row(home: Settings, registered: dict, case: str) -> None:
    name, path = registered[case]
    frame = pd.read_csv(path)
    target = "target"
    features = frame.drop(columns=[target])
    model, pyfunc, sklearn = served_and_mlflow(home, name, features)
    rows = features[model.input_names].to_numpy(dtype=object).tolist()
    check = CopyCheck.from_tag(MlflowRegistry(tracking_uri=home.tracking_uri).get_version(name, "1").tags.get(
        TAG_ONNX_COPY))
    assert check is not None, "registration records the ONNX copy's proof either way"
    assert model.serving_path == ("onnx" if check.verified else "columns"), check.reason
    assert_same(model.predict(rows), pyfunc, sklearn, features)
    replay = estimator_predictor(sklearn, model.columns)
    assert replay.path == "columns"
    assert_same(replay(rows), pyfunc, sklearn, features)


def test_the_pipelines_classifiers_are_served_through_their_proved_onnx_copy(
    home: Settings, registered: dict
) -> None:
    for case in ("numeric/logistic", "numeric/random_forest", "categorical/logistic"):
        name, _ = registered[case]
        assert load_registered(home, name=name, ref="1").serving_path == "onnx", case


def test_the_onnx_copy_is_covered_by_the_artifact_digest(home: Settings, registered: dict) -> None:
    from mlflow.tracking import MlflowClient

    name, _ = registered["numeric/logistic"]
    location = MlflowClient(tracking_uri=home.tracking_uri).get_model_version_download_uri(name, "1")
    copy = Path(location.removeprefix("file://")) / ONNX_COPY_PATH
    assert copy.is_file()
    copy.write_bytes(copy.read_bytes() + b"\0")
    with pytest.raises(IntegrityError, match="does not match the registered"):
        load_registered(home, name=name, ref="1")


def text_frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    good, bad = ["great", "lovely", "fast", "works"], ["broken", "slow", "awful", "refund"]
    words = rng.integers(0, 4, size=(120, 3))
    sentiment = rng.integers(0, 2, size=120)
    texts = [" ".join((good if s else bad)[w] for w in ws) + " item" for ws, s in zip(words, sentiment,
                                                                                    strict=True)]
    return pd.DataFrame({"review": texts, "channel": rng.choice(["web", "shop"], 120),
                         "label": np.where(sentiment == 1, "positive", "negative")})


def test_a_users_text_pipeline_is_served_like_mlflow_serves_it(home: Settings) -> None:
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    from kubeloop.serving.testing import register_logged

    frame = text_frame()
    features = frame[["review", "channel"]]
    pipeline = Pipeline([("prepare", ColumnTransformer([("text", TfidfVectorizer(), "review"),
                                                        ("channel", OneHotEncoder(), ["channel"])])),
                         ("model", LogisticRegression())]).fit(features, frame["label"])
    register_logged(home, name="reviews", onnx_copy=(pipeline, features), log=lambda: (
        mlflow.sklearn.log_model(pipeline, name="model", signature=infer_signature(features, frame["label"]),
                                 pip_requirements=["scikit-learn"]).model_uri))
    model, pyfunc, sklearn = served_and_mlflow(home, "reviews", features)
    assert [c.kind for c in model.columns] == ["string", "string"]
    assert model.serving_path in ("onnx", "columns")
    assert_same(model.predict(features.to_numpy(dtype=object).tolist()), pyfunc, sklearn, features)


def test_a_downloaded_scikit_learn_folder_gets_its_copy_before_registration(
    home: Settings, tmp_path: Path
) -> None:
    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    from kubeloop.serving.core.onnx_copy import attach_for_folder
    from kubeloop.serving.testing import IRIS_COLUMNS, iris_frame
    from kubeloop.training.tracking import ensure_experiment, logged_model_location

    frame = iris_frame()
    features = frame[list(IRIS_COLUMNS)]
    fitted = LogisticRegression(max_iter=500).fit(features, frame["species"])
    mlflow.set_tracking_uri(home.tracking_uri)
    experiment = ensure_experiment(home.tracking_uri, "adopted", artifact_root=home.artifact_root)
    with mlflow.start_run(experiment_id=experiment) as run:
        info = mlflow.sklearn.log_model(fitted, name="model", pip_requirements=["scikit-learn"],
                                        signature=infer_signature(features, frame["species"]))
    location = logged_model_location(home.tracking_uri, info.model_uri)
    folder = Path(mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=str(tmp_path)))
    where = {"tracking_uri": home.tracking_uri, "location": location, "folder": folder}
    assert attach_for_folder(**where, features=None) == {}
    tags = attach_for_folder(**where, features=features)
    check = CopyCheck.from_tag(tags[TAG_ONNX_COPY])
    assert check is not None and check.verified and check.rows == len(features)
    registry = MlflowRegistry(tracking_uri=home.tracking_uri)
    version = registry.register(name="adopted", model_uri=info.model_uri, run_id=run.info.run_id, tags=tags)
    assert load_registered(home, name="adopted", ref=version.version).serving_path == "onnx"
