"""Training on labeled production data: the labeled window as a weighted table, weights in the fit and in
the holdout metrics, and a whole in-process run on a real label store and MLflow SQLite registry."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from kubeloop.errors import KubeloopError
from kubeloop.labels import Label, LocalLabelStore
from kubeloop.predlog import LogStore, PredictionRecord
from kubeloop.registry.mlflow_registry import MlflowRegistry
from kubeloop.settings import Settings, load_settings
from kubeloop.training.config import TrainingConfig
from kubeloop.training.labeled import WEIGHT_COLUMN, LabeledWindow, parse_window
from kubeloop.training.outcome import run_in_process
from kubeloop.training.tables import labeled_table, mixed, resampled, training_table

NOW = time.time()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_settings({"KUBELOOP_HOME": str(tmp_path_factory.mktemp("labeled"))}).ensure_dirs()


def answered(request_id: str, *, x: float, predicted: str, inclusion: float, role: str = "champion",
             at: float = NOW - 60) -> PredictionRecord:
    return PredictionRecord(request_id=request_id, timestamp=at, deployment="shop", model="shop-clf",
                            version="1", role=role, inputs=[{"x": x, "y": -x}], outputs=[predicted],
                            extra={"inclusion": [inclusion]})


def log_and_label(settings: Settings, rows: list[tuple[PredictionRecord, str]]) -> None:
    store = LogStore(settings.logs_dir)
    store.write([record for record, _ in rows])
    store.close()
    labels = [Label(request_id=r.request_id, label=truth) for r, truth in rows if r.role != "shadow"]
    LocalLabelStore.from_settings(settings).put("shop", labels)


def test_a_labeled_window_is_one_row_per_input_weighted_by_its_inclusion_probability(tmp_path: Path) -> None:
    settings = load_settings({"KUBELOOP_HOME": str(tmp_path)}).ensure_dirs()
    log_and_label(settings, [
        (answered("a", x=1.0, predicted="no", inclusion=0.1), "no"),
        (answered("a", x=1.0, predicted="no", inclusion=0.5, role="shadow"), "no"),  # the larger one counts
        (answered("b", x=2.0, predicted="yes", inclusion=1.0), "yes"),
    ])
    window = LocalLabelStore.from_settings(settings).read("shop", NOW - 120, NOW)

    table = labeled_table(window, target="bought")

    assert list(table.columns) == ["x", "y", "bought", WEIGHT_COLUMN]
    assert table.sort_values("x")[WEIGHT_COLUMN].tolist() == [2.0, 1.0]
    assert table.sort_values("x")["bought"].tolist() == ["no", "yes"]
    alone = training_table(train_on="labeled", target="bought", share=0.5, reference=None, labeled=window)
    assert alone[WEIGHT_COLUMN].sum() == pytest.approx(2.0)
    assert alone[WEIGHT_COLUMN].max() == pytest.approx(4 / 3)


def test_mixed_with_the_reference_the_labeled_rows_carry_their_share_of_a_mean_weight_of_one() -> None:
    labeled = pd.DataFrame({"x": [1.0, 2.0], "t": [0, 1], WEIGHT_COLUMN: [10.0, 30.0], "extra": [0, 0]})
    reference = pd.DataFrame({"x": np.arange(8.0), "t": [0, 1] * 4})

    table = mixed(labeled, reference, share=0.25, target="t")

    assert list(table.columns) == ["x", "t", WEIGHT_COLUMN]
    weights = table[WEIGHT_COLUMN].to_numpy()
    assert weights.mean() == pytest.approx(1.0)
    assert weights[:2].sum() == pytest.approx(0.25 * 10) and weights[1] == pytest.approx(3 * weights[0])
    assert np.allclose(weights[2:], 0.75 * 10 / 8)
    with pytest.raises(KubeloopError, match="lack the reference table's column"):
        mixed(labeled.drop(columns=["x"]), reference, share=0.5, target="t")


def test_a_weighted_reference_is_resampled_in_proportion_to_its_weights() -> None:
    table = pd.DataFrame({"x": [0.0, 1.0] * 500, WEIGHT_COLUMN: [1.0, 9.0] * 500})

    drawn = resampled(table, seed=1)

    assert list(drawn.columns) == ["x"] and len(drawn) == 1000
    assert 0.86 < drawn["x"].mean() < 0.94


@pytest.mark.parametrize(("params", "message"), [
    ({"train_on": "labelled"}, "train_on: expected one of reference, labeled, both"),
    ({"train_on": "labeled"}, "needs labels_from"),
    ({"train_on": "both", "labels_from": "shop"}, "needs labels_window"),
    ({"train_on": "labeled", "labels_from": "shop", "labels_window": "yesterday"}, "expected SINCE..UNTIL"),
    ({"train_on": "labeled", "labels_from": "shop", "labels_window": "20..10"}, "ends before it starts"),
    ({"labels_from": "shop"}, "train_on is reference"),
    ({"train_on": "both", "labels_from": "s", "labels_window": "1d", "labeled_share": 1.0}, "labeled_share"),
])
def test_labeled_parameters_that_cannot_work_are_refused_by_name(
    params: dict[str, object], message: str
) -> None:
    with pytest.raises(KubeloopError, match=message):
        TrainingConfig.from_params(params)


def test_windows_read_as_bounds_or_a_duration_ending_now() -> None:
    exact = LabeledWindow(deployment="shop", since=1.5, until=1_700_000_000.25)
    assert parse_window(exact.to_param()) == (1.5, 1_700_000_000.25)
    assert parse_window("2026-01-01T00:00:00..2026-01-02T00:00:00")[1] - 86_400 == parse_window(
        "2026-01-01T00:00:00..2026-01-02T00:00:00")[0]
    assert parse_window("1h", now=7200.0) == (3600.0, 7200.0)


def test_weights_decide_the_fit_and_the_holdout_metrics(home: Settings, tmp_path: Path) -> None:
    """Half again as many `a` rows as `b`, but each `b` weighs 3: weighted, the model answers `b`."""
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"x": rng.uniform(0, 1, 60), "target": ["a"] * 36 + ["b"] * 24})
    table[WEIGHT_COLUMN] = np.where(table["target"] == "b", 3.0, 1.0)
    table.to_parquet(tmp_path / "weighted.parquet")
    table.drop(columns=[WEIGHT_COLUMN]).to_parquet(tmp_path / "plain.parquet")
    answers = {}
    for name in ("weighted", "plain"):
        config = TrainingConfig.from_params({"data": str(tmp_path / f"{name}.parquet"), "model_name": name,
                                             "gate_threshold": 0.0})
        outcome = run_in_process(config, settings=home)
        assert outcome.version == "1", outcome.reason
        model = _load(home, name, tmp_path)
        answers[name] = (set(model.predict(pd.DataFrame({"x": [0.1, 0.5, 0.9]}))), outcome)
    (weighted, w_run), (plain, p_run) = answers["weighted"], answers["plain"]
    assert weighted == {"b"} and plain == {"a"}
    # Holdout: 9 a and 6 b (a quarter of each class); answering b is right on 18 of 27 units of weight.
    assert w_run.metrics["accuracy"] == pytest.approx(18 / 27)
    assert p_run.metrics["accuracy"] == pytest.approx(0.6)
    assert "weighted by sample_weight" in w_run.reason


def _load(home: Settings, name: str, scratch: Path) -> Any:
    import mlflow.pyfunc

    path = MlflowRegistry.from_settings(home).download_verified(name=name, version="1", dst=scratch / name)
    return mlflow.pyfunc.load_model(str(path))


def test_a_run_trains_on_the_labeled_window_of_a_deployment(home: Settings) -> None:
    """Production answers of a drifted world (y decides), stratified: every `yes` labeled, 1 in 4 `no`."""
    rng = np.random.default_rng(1)
    rows = []
    for index in range(400):
        x = float(rng.uniform(0, 1))
        truth = "yes" if x > 0.3 else "no"
        predicted = "yes" if x > 0.7 else "no"  # the champion's boundary is in the wrong place
        inclusion = 1.0 if predicted == "yes" else 0.25
        if rng.uniform() < inclusion:
            rows.append((answered(f"r{index}", x=x, predicted=predicted, inclusion=inclusion), truth))
    log_and_label(home, rows)
    window = LabeledWindow(deployment="shop", since=NOW - 120, until=NOW).to_param()
    config = TrainingConfig.from_params({"model_name": "shop-clf", "target": "bought", "train_on": "labeled",
                                         "labels_from": "shop", "labels_window": window})

    outcome = run_in_process(config, settings=home)

    assert outcome.version == "1", outcome.reason
    model = _load(home, "shop-clf", home.home / "scratch")
    answers = model.predict(pd.DataFrame({"x": [0.2, 0.5, 0.9], "y": [-0.2, -0.5, -0.9]}))
    assert list(answers) == ["no", "yes", "yes"]
    empty = TrainingConfig.from_params({**config.as_params(), "labels_window": f"{NOW - 10}..{NOW}"})
    with pytest.raises(KubeloopError, match="no labeled predictions in the window"):
        run_in_process(empty, settings=home)
