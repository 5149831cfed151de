"""Labeling policies: inclusion probabilities per row, one draw per request for every role, the queue."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kubeloop.errors import SpecError
from kubeloop.labels.policy import chosen, draw, inclusion_probabilities
from kubeloop.labels.queue import chosen_rows
from kubeloop.labels.serving import labeling_policy, policy_json
from kubeloop.spec import LabelingSpec, parse_deployment


def spec(**fields: object) -> LabelingSpec:
    return LabelingSpec.model_validate(fields)


def test_uniform_stratified_and_uncertainty_probabilities() -> None:
    assert inclusion_probabilities(spec(), predictions=["a"], probabilities=None) is None
    assert inclusion_probabilities(spec(policy="uniform", rate=0.2), predictions=["a", "b"],
                                   probabilities=None) == [0.2, 0.2]
    stratified = spec(policy="stratified", rate=0.01, classRates={"fraud": 1.0})
    assert inclusion_probabilities(stratified, predictions=["fraud", "ok"], probabilities=None) == [1.0, 0.01]
    uncertain = spec(policy="uncertainty", rate=0.05, maxRate=0.85)
    found = inclusion_probabilities(uncertain, predictions=["a", "b", "c"],
                                    probabilities=[[1.0, 0.0], [0.5, 0.5], [0.75, 0.25]])
    assert found == pytest.approx([0.05, 0.85, 0.45])
    assert inclusion_probabilities(uncertain, predictions=[1.5], probabilities=None) == [0.05]


def test_policies_are_refused_when_inconsistent_naming_the_field() -> None:
    body = {"apiVersion": "kubeloop.io/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": "iris"},
            "spec": {"model": {"name": "m"},
                     "labeling": {"policy": "uncertainty", "rate": 0.5, "maxRate": 0.1}}}
    with pytest.raises(SpecError, match=r"spec.labeling: maxRate \(0.1\) must be at least rate \(0.5\)"):
        parse_deployment(body)
    body["spec"]["labeling"] = {"policy": "uniform", "rate": 0}
    with pytest.raises(SpecError, match=r"spec.labeling.rate"):
        parse_deployment(body)
    with pytest.raises(SpecError, match="invalid labeling policy: policy"):
        labeling_policy('{"policy": "everything"}')
    assert labeling_policy(policy_json(spec(policy="uniform", rate=0.3))) == spec(policy="uniform", rate=0.3)
    assert labeling_policy(policy_json(spec())) is None


def test_draws_are_uniform_fixed_by_the_request_and_nested_across_probabilities() -> None:
    draws = np.array([draw(f"req-{i}", 0) for i in range(20_000)])
    assert abs(draws.mean() - 0.5) < 0.01 and abs(np.mean(draws < 0.1) - 0.1) < 0.01
    assert draw("req-1", 0) == draw("req-1", 0) != draw("req-1", 1)
    # The same draw for every role: whatever a smaller probability chooses, a larger one does too.
    assert all(chosen(f"req-{i}", 0, 0.5) for i in range(2000) if chosen(f"req-{i}", 0, 0.2))


def logged(request_ids: list[str], *, role: str, version: str, probability: float) -> pd.DataFrame:
    return pd.DataFrame({"request_id": request_ids, "row": 0, "timestamp": 1.0, "version": version,
                         "role": role, "status": 200, "prediction": "cat", "input.size": 1.0,
                         "probability.cat": 0.6, "inclusion_probability": probability})


def test_the_queue_holds_each_row_chosen_by_any_role_once_with_the_shadows_answer() -> None:
    ids = [f"r{i}" for i in range(5000)]
    champion = logged(ids, role="champion", version="1", probability=0.05)
    shadow = logged(ids, role="shadow", version="2", probability=0.2).assign(prediction="dog")
    queue = chosen_rows(pd.concat([champion, shadow]))
    expected = {r for r in ids if draw(r, 0) < 0.2}
    assert set(queue["request_id"]) == expected and len(queue) == len(expected)
    assert (queue["inclusion_probability"] == 0.2).all() and (queue["shadow_prediction"] == "dog").all()
    assert {"input.size", "probability.cat", "version", "prediction"} <= set(queue.columns)
    labeled = queue.head(10)[["request_id", "row"]]
    assert len(chosen_rows(pd.concat([champion, shadow]), labeled=labeled)) == len(expected) - 10
    assert chosen_rows(champion.drop(columns=["inclusion_probability"])).empty
