"""Loading one registered model version, verified against its registered sha256, and predicting rows."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kubeloop.errors import KubeloopError
from kubeloop.serving.core.requests import BOOLEAN, INTEGER, NUMBER, Column
from kubeloop.settings import Settings


@dataclass(frozen=True, kw_only=True)
class Prediction:
    """Answers for a batch of rows: one prediction each, and class probabilities for classifiers."""

    predictions: list[Any]
    probabilities: list[list[float]] | None = None
    classes: list[Any] | None = None


@dataclass(frozen=True, kw_only=True)
class LoadedModel:
    """A model version ready to predict, with the signature requests are validated against."""

    name: str
    version: str
    columns: tuple[Column, ...]
    estimator: Any
    classes: tuple[Any, ...] | None = None
    # True for a scikit-learn estimator (takes a float matrix); False for a generic pyfunc model.
    native: bool = False

    def predict(self, rows: Sequence[Sequence[Any]]) -> Prediction:
        """Predict validated rows (signature column order) in one call to the estimator."""
        features = self._features(rows)
        predictions = np.asarray(self.estimator.predict(features)).tolist()
        if self.classes is None:
            return Prediction(predictions=predictions)
        probabilities = np.asarray(self.estimator.predict_proba(features)).tolist()
        return Prediction(predictions=predictions, probabilities=probabilities, classes=list(self.classes))

    def _features(self, rows: Sequence[Sequence[Any]]) -> Any:
        # A float matrix is several times cheaper than a DataFrame when every column is numeric.
        if self.native and all(c.kind in (NUMBER, INTEGER, BOOLEAN) for c in self.columns):
            return np.asarray(rows, dtype=np.float64)
        import pandas as pd

        return pd.DataFrame(list(rows), columns=[c.name for c in self.columns])


def load_local(path: Path, *, name: str, version: str) -> LoadedModel:
    """Load a downloaded MLflow model folder (sklearn flavour natively, anything else as pyfunc)."""
    import mlflow.models

    meta = mlflow.models.Model.load(str(path))
    schema = meta.get_input_schema()
    if schema is None or not schema.has_input_names():
        raise KubeloopError(f"model {name!r} version {version} has no column-based input signature")
    columns = tuple(Column.from_mlflow(spec.name, spec.type.name) for spec in schema.inputs)
    native = "sklearn" in meta.flavors
    if native:
        import mlflow.sklearn

        estimator = mlflow.sklearn.load_model(str(path))
        native = not selects_columns_by_name(estimator)
    else:
        import mlflow.pyfunc

        estimator = mlflow.pyfunc.load_model(str(path))
    classes = getattr(estimator, "classes_", None) if hasattr(estimator, "predict_proba") else None
    return LoadedModel(name=name, version=version, columns=columns, estimator=estimator, native=native,
                       classes=None if classes is None else tuple(np.asarray(classes).tolist()))


def selects_columns_by_name(estimator: Any) -> bool:
    """True when a step picks columns by name (a ColumnTransformer, as training builds): needs a frame."""
    from sklearn.compose import ColumnTransformer

    steps = [estimator, *(step for _, step in getattr(estimator, "steps", []))]
    return any(isinstance(step, ColumnTransformer) for step in steps)


def load_registered(settings: Settings, *, name: str, ref: str) -> LoadedModel:
    """Resolve `ref` (version, alias or models:/ URI), download it verified and load it.

    A digest mismatch raises IntegrityError before any model code is unpickled.
    """
    from kubeloop.registry.mlflow_registry import MlflowRegistry

    registry = MlflowRegistry(tracking_uri=settings.tracking_uri)
    version = registry.resolve(ref, name=name).version
    folder = Path(tempfile.mkdtemp(prefix=f"kubeloop-serve-{name}-v{version}-"))
    path = registry.download_verified(name=name, version=version, dst=folder)
    return load_local(path, name=name, version=version)
