"""A model server records each answered row's inclusion probability and its version's label schema."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
from test_serving_engine import make_engine

from kubeloop.labels.schema import read_schema
from kubeloop.labels.serving import record_served_schema
from kubeloop.predlog.reader import records_frame
from kubeloop.spec import LabelingSpec


def test_the_engine_logs_the_policys_probability_of_every_row() -> None:
    policy = LabelingSpec(policy="stratified", rate=0.1, class_rates={"big": 1.0})
    engine, _, logger, _ = make_engine(labeling=policy)
    body = orjson.dumps({"instances": [[5.0, 0.0], [0.5, 0.0]]})
    asyncio.run(engine.answer(body, headers={"x-request-id": "abc", "x-kubeloop-role": "shadow"},
                              model_name="m", protocol="v1"))
    (record,) = logger.records
    assert record.extra["inclusion"] == [1.0, 0.1]
    frame = records_frame(logger.records)
    assert frame["inclusion_probability"].tolist() == [1.0, 0.1] and set(frame["role"]) == {"shadow"}


def test_without_a_policy_nothing_is_recorded() -> None:
    engine, _, logger, _ = make_engine()
    asyncio.run(engine.answer(orjson.dumps({"instances": [[5.0, 0.0]]}), headers={}, model_name="m",
                              protocol="v1"))
    assert "inclusion" not in logger.records[0].extra


def test_servers_record_classes_or_numbers_as_their_label_schema(tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    record_served_schema(tmp_path, deployment="iris", version="1", classes=("setosa", "virginica"),
                         estimator=object())
    assert read_schema(tmp_path, "iris").classes == ("setosa", "virginica")
    record_served_schema(tmp_path, deployment="house", version="3", classes=None,
                         estimator=LinearRegression())
    assert read_schema(tmp_path, "house").kind == "number"
