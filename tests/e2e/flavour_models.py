"""Models of each flavour a user would log to MLflow, registered the way serving/testing.py does.

XGBoost and LightGBM classifiers on iris (columns), an ONNX network exported with skl2onnx (one
float32 tensor), and a `mlflow.pyfunc.PythonModel` logged from code that reads a text column.
Each `register_*` takes a seed, so two versions answer alike but are not the same artifact.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kubeloop.serving.testing import IRIS_COLUMNS, iris_frame, register_logged
from kubeloop.settings import Settings

TEXT_MODEL_CODE = '''
import mlflow
import pandas as pd


class Sentiment(mlflow.pyfunc.PythonModel):
    """Positive when a review has more good words than bad ones."""

    GOOD = {"great", "lovely", "fast", "works"}

    def predict(self, context, model_input: pd.DataFrame, params=None):
        def score(text):
            words = text.split()
            return "positive" if 2 * sum(w in self.GOOD for w in words) > len(words) else "negative"
        return [score(text) for text in model_input["review"]]


mlflow.models.set_model(Sentiment())
'''


def iris_features() -> tuple[pd.DataFrame, pd.Series]:
    """Iris features and string species."""
    frame = iris_frame()
    return frame[list(IRIS_COLUMNS)], frame["species"]


def register_xgboost(settings: Settings, *, name: str, seed: int, aliases: tuple[str, ...]) -> str:
    """An XGBClassifier (labels encoded 0..2, as XGBoost wants), logged with mlflow.xgboost."""
    import mlflow.xgboost
    import xgboost
    from mlflow.models import infer_signature

    features, species = iris_features()
    labels = species.astype("category").cat.codes.to_numpy()
    model = xgboost.XGBClassifier(n_estimators=15, max_depth=3, random_state=seed).fit(features, labels)
    return register_logged(settings, name=name, aliases=aliases, reference=features, log=lambda: (
        mlflow.xgboost.log_model(model, name="model", signature=infer_signature(features, labels),
                                 input_example=features.head(2), pip_requirements=["xgboost"]).model_uri))


def register_lightgbm(settings: Settings, *, name: str, seed: int, aliases: tuple[str, ...]) -> str:
    """An LGBMClassifier on string species, logged with mlflow.lightgbm."""
    import lightgbm
    import mlflow.lightgbm
    from mlflow.models import infer_signature

    features, species = iris_features()
    model = lightgbm.LGBMClassifier(n_estimators=15, num_leaves=7, random_state=seed, verbose=-1)
    model.fit(features, species)
    return register_logged(settings, name=name, aliases=aliases, reference=features, log=lambda: (
        mlflow.lightgbm.log_model(model, name="model", signature=infer_signature(features, species),
                                  input_example=features.head(2), pip_requirements=["lightgbm"]).model_uri))


def onnx_network(seed: int) -> Any:
    """A small MLP on iris exported with skl2onnx: input X float32 [n, 4], outputs label, probabilities."""
    from skl2onnx import to_onnx
    from sklearn.neural_network import MLPClassifier

    features, species = iris_features()
    matrix = features.to_numpy(dtype=np.float32)
    codes = species.astype("category").cat.codes.to_numpy()
    network = MLPClassifier(hidden_layer_sizes=(16,), max_iter=2000, random_state=seed).fit(matrix, codes)
    return to_onnx(network, matrix[:1], options={id(network): {"zipmap": False}}), matrix


def register_onnx(settings: Settings, *, name: str, seed: int, aliases: tuple[str, ...]) -> str:
    """The ONNX network with a tensor signature, logged with mlflow.onnx."""
    import mlflow.onnx
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    graph, _ = onnx_network(seed)
    signature = ModelSignature(inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, 4), "X")]))
    return register_logged(settings, name=name, aliases=aliases, log=lambda: (
        mlflow.onnx.log_model(graph, name="model", signature=signature,
                              pip_requirements=["onnxruntime"]).model_uri))


def reviews(count: int = 200, seed: int = 0) -> pd.DataFrame:
    """Short product reviews (text) from good and bad words."""
    rng = np.random.default_rng(seed)
    words = ["great", "lovely", "fast", "works", "broken", "slow", "awful", "refund"]
    return pd.DataFrame({"review": [" ".join(rng.choice(words, 3)) for _ in range(count)]})


def register_text(settings: Settings, *, name: str, seed: int, aliases: tuple[str, ...],
                  folder: Path) -> str:
    """The text PythonModel, logged from its code file with a one-string-column signature."""
    import mlflow.pyfunc
    from mlflow.models import infer_signature

    code = folder / f"sentiment_{seed}.py"
    code.write_text(TEXT_MODEL_CODE)
    sample = reviews(seed=seed)
    signature = infer_signature(sample, np.array(["positive"] * len(sample)))
    return register_logged(settings, name=name, aliases=aliases, reference=sample, log=lambda: (
        mlflow.pyfunc.log_model(name="model", python_model=str(code), signature=signature,
                                pip_requirements=["pandas"]).model_uri))


Register = Callable[..., str]
