"""Training parameters, data sources and estimators are refused early, with the parameter named."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from kubeloop.training.config import ConfigError, TrainingConfig
from kubeloop.training.data import DataError, data_digest, default_dataset, load_table, source_format
from kubeloop.training.estimators import ESTIMATORS, EstimatorError, build_model, check_estimator
from kubeloop.training.evaluation import class_probabilities, scores


def test_defaults_and_coercion_from_cli_strings() -> None:
    config = TrainingConfig.from_params({"seed": "7", "test_size": "0.3", "hyperparams": {"C": 0.5}})
    assert config.seed == 7 and config.test_size == 0.3
    assert config.hyperparameters == {"C": 0.5}
    assert config.gate_policy("multiclass").metric == "f1"
    assert config.gate_policy("regression").metric == "r2"
    assert TrainingConfig().model_name == "iris-classifier"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"estimator": "xgboost"}, "estimator: unknown 'xgboost'; choose one of logistic"),
        ({"hyperparams": '{"n_trees": 5}'}, "hyperparams: logistic does not take n_trees"),
        ({"hyperparams": "{oops"}, "hyperparams: not valid JSON"),
        ({"hyperparams": "[1]"}, "hyperparams: expected a JSON object"),
        ({"task": "ranking"}, "task: expected one of auto, binary, multiclass, regression"),
        ({"test_size": 0.9}, "test_size: expected a fraction"),
        ({"seed": "x"}, "seed: expected int, got 'x'"),
        ({"gate_metric": "auc"}, "gate_metric: unknown metric 'auc'"),
        ({"colour": "red"}, "unknown training parameter"),
    ],
)
def test_bad_parameters_are_named(params: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        TrainingConfig.from_params(params)


def test_check_estimator_accepts_either_variant_of_a_family() -> None:
    check_estimator("random_forest", {"n_estimators": 10, "max_depth": 3})
    check_estimator("linear", {"alpha": 1.0})
    with pytest.raises(EstimatorError, match="gradient_boosting does not take C"):
        check_estimator("gradient_boosting", {"C": 1})


def test_missing_and_unreadable_sources(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="data: file not found: .*nope.csv"):
        load_table(str(tmp_path / "nope.csv"))
    with pytest.raises(DataError, match="neither .csv nor .parquet"):
        source_format("data.xlsx")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="is empty"):
        load_table(str(tmp_path / "empty.csv"))
    assert source_format("s3://bucket/table.csv.gz") == "csv"


def test_default_dataset_and_digest_are_stable(tmp_path: Path) -> None:
    path = default_dataset(tmp_path)
    frame = load_table(str(path))
    assert frame.shape == (150, 5) and "target" in frame.columns
    parquet = tmp_path / "iris.parquet"
    frame.to_parquet(parquet)
    assert data_digest(load_table(str(parquet))) == data_digest(frame)
    assert data_digest(load_table(path.as_uri())) == data_digest(frame)
    changed = frame.copy()
    changed.iloc[0, 0] += 0.1
    assert data_digest(changed) != data_digest(frame)


@pytest.mark.parametrize("estimator", sorted(ESTIMATORS))
@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_every_estimator_fits_categorical_and_numeric_columns(estimator: str, task: str) -> None:
    frame = pd.DataFrame({"x": [float(i % 7) for i in range(60)], "c": ["a", "b", "c"] * 20})
    labels = pd.Series([i % 3 for i in range(60)]) if task == "multiclass" else frame["x"] * 2.0
    model = build_model(
        estimator=estimator, task=task, hyperparams={}, numeric=["x"], categorical=["c"], seed=1
    )
    model.fit(frame, labels)
    probabilities = None if task == "regression" else (model.predict_proba(frame), list(model.classes_))
    found = scores(labels=labels, predicted=model.predict(frame), probabilities=probabilities, task=task)
    expected = {"rmse", "mae", "r2"} if task == "regression" else {"accuracy", "f1", "roc_auc"}
    assert set(found) == expected


class _Wrapped:
    """A pyfunc model's face: predict, and the raw estimator behind it."""

    def __init__(self, raw: object) -> None:
        self.raw = raw

    def get_raw_model(self) -> object:
        return self.raw


def test_probabilities_come_from_the_raw_model_only_when_it_has_them() -> None:
    from sklearn.linear_model import LinearRegression, LogisticRegression

    frame = pd.DataFrame({"x": [float(i) for i in range(20)]})
    classifier = LogisticRegression().fit(frame, [i // 10 for i in range(20)])
    found = class_probabilities(_Wrapped(classifier), frame)
    assert found is not None and found[0].shape == (20, 2) and found[1] == [0, 1]
    assert class_probabilities(_Wrapped(LinearRegression().fit(frame, frame["x"])), frame) is None
    assert class_probabilities(object(), frame) is None
