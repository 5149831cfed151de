"""The scikit-learn estimators training can use, chosen by name, wrapped with their preprocessing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kubeloop.errors import KubeloopError

# name -> (classifier, regressor) as "module:Class"; imported only when a model is built.
ESTIMATORS: dict[str, tuple[str, str]] = {
    "logistic": ("sklearn.linear_model:LogisticRegression", "sklearn.linear_model:Ridge"),
    "linear": ("sklearn.linear_model:LogisticRegression", "sklearn.linear_model:Ridge"),
    "random_forest": (
        "sklearn.ensemble:RandomForestClassifier",
        "sklearn.ensemble:RandomForestRegressor",
    ),
    "gradient_boosting": (
        "sklearn.ensemble:GradientBoostingClassifier",
        "sklearn.ensemble:GradientBoostingRegressor",
    ),
}
# Defaults that differ from scikit-learn's, for a model that converges on unscaled real data.
_DEFAULTS: dict[str, dict[str, Any]] = {"sklearn.linear_model:LogisticRegression": {"max_iter": 1000}}
_SCALED = {"logistic", "linear"}


class EstimatorError(KubeloopError):
    """An unknown estimator or a hyperparameter it does not take."""


def check_estimator(name: str, hyperparams: Mapping[str, Any]) -> None:
    """Refuse an unknown estimator name or a hyperparameter neither of its variants takes."""
    if name not in ESTIMATORS:
        raise EstimatorError(f"estimator: unknown {name!r}; choose one of {', '.join(ESTIMATORS)}")
    accepted = set().union(*(_load(dotted)().get_params() for dotted in ESTIMATORS[name]))
    unknown = sorted(set(hyperparams) - accepted)
    if unknown:
        raise EstimatorError(
            f"hyperparams: {name} does not take {', '.join(unknown)} (it takes {', '.join(sorted(accepted))})"
        )


def build_model(
    *,
    estimator: str,
    task: str,
    hyperparams: Mapping[str, Any],
    numeric: Sequence[str],
    categorical: Sequence[str],
    seed: int,
) -> Any:
    """An unfitted pipeline: scale or pass numeric columns, one-hot encode categorical ones, then fit."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if estimator not in ESTIMATORS:
        raise EstimatorError(f"estimator: unknown {estimator!r}; choose one of {', '.join(ESTIMATORS)}")
    dotted = ESTIMATORS[estimator][1 if task == "regression" else 0]
    cls = _load(dotted)
    params = {**_DEFAULTS.get(dotted, {}), **hyperparams}
    if "random_state" in cls().get_params():
        params.setdefault("random_state", seed)
    try:
        model = cls(**params)
    except TypeError as error:
        raise EstimatorError(f"hyperparams: {error}") from error
    numeric_step = StandardScaler() if estimator in _SCALED else "passthrough"
    prepare = ColumnTransformer(
        [
            ("numeric", numeric_step, list(numeric)),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), list(categorical)),
        ]
    )
    return Pipeline([("prepare", prepare), ("model", model)])


def _load(dotted: str) -> Any:
    import importlib

    module, _, name = dotted.partition(":")
    return getattr(importlib.import_module(module), name)
