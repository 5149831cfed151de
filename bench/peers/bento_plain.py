"""The peer: a plain BentoML service for the same model, as a user would write it (no kubeloop code).

Served with `bentoml serve bento_plain:PlainIris` from this folder; PLAIN_MODEL_DIR names the model
folder and PLAIN_WORKERS the worker count.
"""

import os

import bentoml
import numpy as np


@bentoml.service(workers=int(os.environ.get("PLAIN_WORKERS", "1")))
class PlainIris:
    """Load the estimator, predict a list of rows."""

    def __init__(self) -> None:
        import mlflow.sklearn

        self.model = mlflow.sklearn.load_model(os.environ["PLAIN_MODEL_DIR"])

    @bentoml.api
    def predict(self, instances: list[list[float]]) -> dict:
        return {"predictions": self.model.predict(np.asarray(instances)).tolist()}
