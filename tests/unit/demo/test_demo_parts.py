"""The demo's pure parts: the shift keeps labels and moves petals, the summary reads records into rows."""

from __future__ import annotations

import pandas as pd
import pytest

from kubeloop.demo.config import FAST, RETRAIN_DISAGREEMENT, demo_deployment
from kubeloop.demo.data import grow
from kubeloop.demo.summary import alias_decision, gate_decision, table_rows
from kubeloop.demo.traffic import Traffic
from kubeloop.registry.names import TAG_GATE_REASON, TAG_GATE_VERDICT


def test_grow_moves_petals_most_and_keeps_labels() -> None:
    frame = pd.DataFrame({"sepal_length_cm": [5.0] * 50, "petal_length_cm": [4.0] * 50, "target": [1] * 50})
    grown = grow(frame)
    assert (grown["target"] == frame["target"]).all()
    assert grown["petal_length_cm"].mean() == pytest.approx(4.0 * 1.45, abs=0.05)
    assert grown["sepal_length_cm"].mean() == pytest.approx(5.0 * 1.15, abs=0.05)


def test_gate_row_reads_the_version_tags_and_says_when_there_was_no_gate() -> None:
    gated = gate_decision(version="2", tags={TAG_GATE_VERDICT: "passed", TAG_GATE_REASON: "f1 improves"})
    plain = gate_decision(version="3", tags={})
    assert gated.row() == ("training gate", "v2", "passed", "f1 improves")
    assert plain.decision == "not gated" and "without the training pipeline" in plain.reason


def test_alias_row_lists_aliases_in_order() -> None:
    rows = table_rows([alias_decision(aliases={"previous": "1", "champion": "2"})])
    assert rows[0][2] == "champion=v2, previous=v1"


def test_the_demo_deployment_retrains_on_labels_and_rolls_out_with_strict_error_checks() -> None:
    spec = demo_deployment(timing=FAST, port=8081).spec
    checks = {c.name: c for c in spec.rollout.checks}
    assert spec.drift.auto_rollout and spec.drift.train_on == "labeled" and "data" not in spec.drift.params
    assert spec.drift.quality is not None and spec.drift.quality.min_labels == FAST.min_labels
    assert spec.labeling.policy == "stratified" and spec.labeling.class_rates == {"1": 1.0}
    assert checks["error-rate"].threshold == 0.05 and checks["disagreement"].threshold == RETRAIN_DISAGREEMENT
    assert checks["quality"].kind == "quality" and checks["quality"].min_labels == FAST.min_labels


def test_traffic_refuses_a_non_loopback_address() -> None:
    with pytest.raises(ValueError, match="loopback"):
        Traffic("http://10.0.0.1:80/v1/models/iris:predict", rows=[{}])
