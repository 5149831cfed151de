"""The peer: a minimal scikit-learn kserve.Model as a user would write it by hand (no kubeloop code).

Usage: python kserve_plain.py --model_dir <mlflow model folder> --model_name NAME --http_port 8080 --workers 2
Instances as lists become a matrix; instances as objects keyed by column become a DataFrame (what a
pipeline that selects columns by name needs).
"""

import argparse

import kserve
import mlflow.sklearn
import numpy as np
import pandas as pd


class SKLearnModel(kserve.Model):
    """Load the estimator, predict V1 instances."""

    def __init__(self, name: str, model_dir: str) -> None:
        super().__init__(name)
        self.model_dir = model_dir
        self.load()

    def load(self) -> bool:
        self.model = mlflow.sklearn.load_model(self.model_dir)
        self.ready = True
        return self.ready

    async def predict(self, payload, headers=None, response_headers=None):
        instances = payload["instances"]
        features = pd.DataFrame(instances) if isinstance(instances[0], dict) else np.asarray(instances)
        return {"predictions": self.model.predict(features).tolist()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    parser.add_argument("--model_dir", required=True)
    args, _ = parser.parse_known_args()
    kserve.ModelServer(http_port=args.http_port, workers=args.workers, enable_grpc=False).start(
        [SKLearnModel(args.model_name, args.model_dir)]
    )
