"""Holdout metrics for any MLflow model: accuracy, F1, ROC AUC for classifiers; RMSE, MAE, R2 for regressors.

A model is scored through its pyfunc flavour (any flavour predicts that way); ROC AUC needs class
probabilities, taken from the raw model when the flavour exposes one with `predict_proba`.
`Evaluation` is what the evaluate step hands to the gate and the register step, as JSON.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Evaluation:
    """A candidate's and the champion's metrics on one holdout, and where the candidate came from."""

    model_uri: str
    run_id: str | None
    model_name: str
    task: str
    metrics: dict[str, float]
    champion_version: str | None = None
    champion_metrics: dict[str, float] | None = None
    note: str = ""  # why the champion could not be compared, when it could not

    def to_json(self) -> str:
        """The JSON string KFP carries between components."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Evaluation:
        """Back from `to_json`."""
        return cls(**json.loads(text))


def score_model(
    model: Any, features: Any, labels: Any, *, task: str, weights: Any = None
) -> dict[str, float]:
    """Score a loaded pyfunc model on a holdout with the task's metrics (weighted by `weights` when given)."""
    predicted = _flat(model.predict(features))
    probabilities = None if task == "regression" else class_probabilities(model, features)
    return scores(labels=labels, predicted=predicted, probabilities=probabilities, task=task, weights=weights)


def class_probabilities(model: Any, features: Any) -> tuple[Any, list[Any]] | None:
    """(probabilities, classes) from the raw model behind a pyfunc one, or None when it gives none."""
    try:
        raw = model.get_raw_model()
    except (AttributeError, NotImplementedError, ValueError):
        return None
    if not (hasattr(raw, "predict_proba") and hasattr(raw, "classes_")):
        return None
    return raw.predict_proba(features), list(raw.classes_)


def scores(
    *,
    labels: Any,
    predicted: Any,
    probabilities: tuple[Any, list[Any]] | None,
    task: str,
    weights: Any = None,
) -> dict[str, float]:
    """The task's metrics from labels and predictions, each weighted by `weights` (None: every row alike);
    ROC AUC only when probabilities make it defined."""
    from sklearn import metrics

    if task == "regression":
        return {
            "rmse": float(metrics.root_mean_squared_error(labels, predicted, sample_weight=weights)),
            "mae": float(metrics.mean_absolute_error(labels, predicted, sample_weight=weights)),
            "r2": float(metrics.r2_score(labels, predicted, sample_weight=weights)),
        }
    found = {
        "accuracy": float(metrics.accuracy_score(labels, predicted, sample_weight=weights)),
        "f1": float(metrics.f1_score(labels, predicted, average="macro", sample_weight=weights)),
    }
    auc = None if probabilities is None else _roc_auc(labels, *probabilities, task=task, weights=weights)
    return found if auc is None else {**found, "roc_auc": auc}


def _roc_auc(labels: Any, probabilities: Any, classes: list[Any], *, task: str, weights: Any) -> float | None:
    from sklearn import metrics

    if len(set(labels)) < 2:
        return None  # undefined on a holdout with one class
    try:
        if task == "binary":
            return float(metrics.roc_auc_score(labels, probabilities[:, 1], labels=classes,
                                               sample_weight=weights))
        return float(metrics.roc_auc_score(labels, probabilities, multi_class="ovr", labels=classes,
                                           sample_weight=weights))
    except ValueError:
        return None  # a holdout missing some classes: AUC is not defined for the full label set


def _flat(predictions: Any) -> Any:
    """One prediction per row: a frame's or a matrix's first column."""
    import numpy as np

    values = predictions.to_numpy() if hasattr(predictions, "to_numpy") else np.asarray(predictions)
    return values[:, 0] if values.ndim == 2 else values
