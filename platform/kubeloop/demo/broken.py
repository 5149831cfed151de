"""The deliberately broken v3: a real registered version that fails on part of the inputs it is sent.

It is trained on the new data like v2, so in shadow it mostly agrees with the champion; what gives it
away is the server errors on long petals, which the rollout's error-rate check must catch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from kubeloop.registry.mlflow_registry import MlflowRegistry
from kubeloop.settings import Settings
from kubeloop.training.data import DEFAULT_TARGET

BROKEN_TAG = "kubeloop.demo.broken"
# Grown petals longer than this (about a third of the new traffic) make the broken model raise.
LONG_PETAL_CM = 7.0
PETAL_COLUMN = 2


class BrokenClassifier(LogisticRegression):  # type: ignore[misc]  # scikit-learn ships no types
    """A classifier that raises on long petals, as a release with a bad preprocessing change would.

    Tests and benchmarks on the original iris set `long_petal_cm` lower (4.8 fails about 2 rows in 5).
    """

    long_petal_cm = LONG_PETAL_CM

    def predict(self, X: Any) -> Any:  # noqa: N803 - scikit-learn's argument name
        """Refuse any batch holding a long petal; otherwise answer as the logistic regression does."""
        if (np.asarray(X, dtype=float)[:, PETAL_COLUMN] > self.long_petal_cm).any():
            raise RuntimeError(f"this release cannot handle petals longer than {self.long_petal_cm} cm")
        return super().predict(X)


def register_broken(settings: Settings, *, model: str, data: Path) -> str:
    """Fit the broken classifier on `data`, log it with MLflow and register it as a new version of `model`."""
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature

    from kubeloop.training.tracking import ensure_experiment

    frame = pd.read_csv(data)
    features, target = frame.drop(columns=[DEFAULT_TARGET]), frame[DEFAULT_TARGET]
    estimator = BrokenClassifier(max_iter=1000).fit(features, target)

    mlflow.set_tracking_uri(settings.tracking_uri)
    experiment_id = ensure_experiment(
        settings.tracking_uri, "kubeloop-demo", artifact_root=settings.artifact_root
    )
    with mlflow.start_run(experiment_id=experiment_id, run_name="broken-release") as run:
        info = mlflow.sklearn.log_model(
            estimator,
            name="model",
            # skops refuses classes it does not know; the servers import this module, so pickle by reference.
            serialization_format="cloudpickle",
            signature=infer_signature(features, target.to_numpy()),
            input_example=features.head(2),
        )
    registry = MlflowRegistry(tracking_uri=settings.tracking_uri)
    return registry.register(
        name=model,
        model_uri=info.model_uri,
        run_id=run.info.run_id,
        tags={BROKEN_TAG: f"raises on petal length > {LONG_PETAL_CM} cm"},
    ).version
