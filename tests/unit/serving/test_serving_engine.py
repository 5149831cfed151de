"""The engine: coalesced batches, failure isolation, V1/V2 answers, logging with role and id, metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
from prometheus_client import CollectorRegistry, generate_latest

from kubeloop.predlog import PredictionRecord
from kubeloop.serving.core.engine import Engine
from kubeloop.serving.core.metrics import ServerMetrics
from kubeloop.serving.core.model import LoadedModel
from kubeloop.serving.core.requests import Column


class CountingClassifier:
    """Predicts 'big' when the first feature exceeds 1; counts calls and fails on negative input."""

    classes_ = np.array(["big", "small"])

    def __init__(self) -> None:
        self.calls: list[int] = []

    def predict(self, features: np.ndarray) -> np.ndarray:
        self.calls.append(len(features))
        if (features < 0).any():
            raise ValueError("negative input")
        return np.where(features[:, 0] > 1, "big", "small")

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        big = (features[:, 0] > 1).astype(float)
        return np.stack([big, 1 - big], axis=1)


class ListLogger:
    def __init__(self) -> None:
        self.records: list[PredictionRecord] = []

    def submit(self, record: PredictionRecord) -> bool:
        self.records.append(record)
        return True


def make_engine(**kwargs: Any) -> tuple[Engine, CountingClassifier, ListLogger, CollectorRegistry]:
    estimator = CountingClassifier()
    model = LoadedModel(name="m", version="7", columns=(Column(name="x", kind="number"),
                                                        Column(name="y", kind="number")),
                        estimator=estimator, classes=("big", "small"), native=True)
    logger = ListLogger()
    registry = CollectorRegistry()
    metrics = ServerMetrics(deployment="dep", model="m", version="7", registry=registry)
    engine = Engine(model, deployment="dep", logger=logger, metrics=metrics, **kwargs)  # type: ignore[arg-type]
    return engine, estimator, logger, registry


def body(rows: Sequence[Sequence[float]]) -> bytes:
    return orjson.dumps({"instances": rows})


def test_concurrent_requests_share_one_predict_call() -> None:
    engine, estimator, _, _ = make_engine()

    async def run() -> list[Any]:
        return await asyncio.gather(*(
            engine.answer(body([[float(i), 0.0]]), headers={}, model_name="m", protocol="v1")
            for i in range(20)
        ))

    answers = asyncio.run(run())
    assert estimator.calls == [20]
    assert [orjson.loads(a.body)["predictions"][0] for a in answers] == ["small", "small"] + ["big"] * 18


def test_batches_respect_the_row_limit() -> None:
    engine, estimator, _, _ = make_engine(max_batch_rows=8)

    async def run() -> None:
        await asyncio.gather(*(engine.answer(body([[1.0, 1.0]] * 3), headers={}, model_name=None,
                                             protocol="v1") for _ in range(5)))

    asyncio.run(run())
    assert estimator.calls == [6, 6, 3]


def test_one_failing_request_does_not_fail_its_batch_mates() -> None:
    engine, _, _, _ = make_engine()

    async def run() -> list[Any]:
        return await asyncio.gather(
            engine.answer(body([[2.0, 0.0]]), headers={}, model_name=None, protocol="v1"),
            engine.answer(body([[-1.0, 0.0]]), headers={}, model_name=None, protocol="v1"),
        )

    good, bad = asyncio.run(run())
    assert good.status == 200
    assert bad.status == 500 and b"negative input" in bad.body


def test_v2_answer_and_logged_record_carry_request_id_and_role() -> None:
    engine, _, logger, registry = make_engine()
    answer = asyncio.run(engine.answer(body([[2.0, 0.5], [0.5, 0.5]]),
                                       headers={"x-request-id": "abc", "x-kubeloop-role": "shadow"},
                                       model_name="m", protocol="v2"))
    content = orjson.loads(answer.body)
    assert answer.request_id == "abc" and content["id"] == "abc"
    assert content["outputs"][0] == {"name": "predictions", "shape": [2], "datatype": "BYTES",
                                     "data": ["big", "small"]}
    assert content["outputs"][1]["shape"] == [2, 2]
    (record,) = logger.records
    assert (record.request_id, record.role, record.version) == ("abc", "shadow", "7")
    assert record.deployment == "dep"
    assert record.inputs == [{"x": 2.0, "y": 0.5}, {"x": 0.5, "y": 0.5}]
    assert record.outputs == ["big", "small"]
    assert record.extra["probabilities"] == [[1.0, 0.0], [0.0, 1.0]]
    text = generate_latest(registry).decode()
    labels = 'deployment="dep",model="m",role="shadow"'
    assert f'kubeloop_requests_total{{{labels},status="200",version="7"}} 1.0' in text
    assert f'kubeloop_predictions_total{{class="big",{labels},version="7"}} 1.0' in text


def test_refusals_are_counted_not_logged() -> None:
    engine, _, logger, registry = make_engine()

    async def run() -> list[Any]:
        return [
            await engine.answer(b"{", headers={}, model_name=None, protocol="v1"),
            await engine.answer(body([[1.0, 1.0]]), headers={}, model_name="other", protocol="v1"),
            await engine.answer(body([[1.0, 1.0]]), headers={"x-kubeloop-role": "boss"}, model_name=None,
                                protocol="v1"),
        ]

    malformed, unknown, role = asyncio.run(run())
    assert (malformed.status, unknown.status, role.status) == (400, 404, 400)
    assert b"unknown model 'other'" in unknown.body and b"unknown role 'boss'" in role.body
    assert logger.records == []
    assert 'status="400"' in generate_latest(registry).decode()


def test_pipelines_that_select_columns_by_name_get_a_frame() -> None:
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from kubeloop.serving.core.model import selects_columns_by_name

    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "y": [1.0, 0.0, 1.0, 0.0]})
    pipeline = Pipeline([("scale", ColumnTransformer([("s", StandardScaler(), ["y", "x"])])),
                         ("model", LogisticRegression())]).fit(frame, ["a", "a", "b", "b"])
    assert selects_columns_by_name(pipeline)
    assert not selects_columns_by_name(LogisticRegression())
    model = LoadedModel(name="m", version="1", columns=(Column(name="x", kind="number"),
                                                        Column(name="y", kind="number")),
                        estimator=pipeline, classes=("a", "b"), native=False)
    assert model.predict([[3.0, 0.0], [0.0, 1.0]]).predictions == ["b", "a"]
