"""Holdout metrics for a fitted model: accuracy, F1, ROC AUC for classifiers; RMSE, MAE, R2 for regressors."""

from __future__ import annotations

from typing import Any


def evaluate(model: Any, features: Any, labels: Any, *, task: str) -> dict[str, float]:
    """Score `model` on a holdout; ROC AUC only when the model gives probabilities and it is defined."""
    from sklearn import metrics

    predicted = model.predict(features)
    if task == "regression":
        return {
            "rmse": float(metrics.root_mean_squared_error(labels, predicted)),
            "mae": float(metrics.mean_absolute_error(labels, predicted)),
            "r2": float(metrics.r2_score(labels, predicted)),
        }
    scores = {
        "accuracy": float(metrics.accuracy_score(labels, predicted)),
        "f1": float(metrics.f1_score(labels, predicted, average="macro")),
    }
    auc = _roc_auc(model, features, labels, task=task)
    if auc is not None:
        scores["roc_auc"] = auc
    return scores


def _roc_auc(model: Any, features: Any, labels: Any, *, task: str) -> float | None:
    from sklearn import metrics

    if not hasattr(model, "predict_proba"):
        return None
    present = set(labels.unique()) if hasattr(labels, "unique") else set(labels)
    if len(present) < 2:
        return None  # undefined on a holdout with one class
    probabilities = model.predict_proba(features)
    classes = list(model.classes_)
    try:
        if task == "binary":
            return float(metrics.roc_auc_score(labels, probabilities[:, 1], labels=classes))
        return float(metrics.roc_auc_score(labels, probabilities, multi_class="ovr", labels=classes))
    except ValueError:
        return None  # a holdout missing some classes: AUC is not defined for the full label set
