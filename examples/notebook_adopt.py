"""A model trained the way a notebook does it, logged to MLflow, then adopted with `kubeloop models register`.

    python examples/notebook_adopt.py [--name breast-cancer]

It trains a scikit-learn pipeline on the breast-cancer data set that scikit-learn ships, logs it
with a signature and an input example to the registry kubeloop uses (KUBELOOP_TRACKING_URI or the
local store), writes the training inputs to a Parquet file, and runs the command a person would:

    kubeloop models register --model-uri runs:/<run>/model --name breast-cancer --reference train.parquet

which records the artifact digest the servers verify, the drift reference and lineage tags, and
sets `champion` (first version) or `challenger`. `kubeloop deploy` and `kubeloop rollout start`
take it from there.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import mlflow
from mlflow.models import infer_signature
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from kubeloop.settings import load_settings
from kubeloop.training.tracking import ensure_experiment


def log_notebook_model(experiment: str = "notebook") -> tuple[str, object]:
    """Train and log the model as a notebook would; return its run id and the training inputs."""
    settings = load_settings().ensure_dirs()
    data = load_breast_cancer(as_frame=True)
    features = data.data.rename(columns=lambda c: c.replace(" ", "_"))
    train, test, y_train, y_test = train_test_split(features, data.target, test_size=0.25, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(train, y_train)
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_experiment(
        experiment_id=ensure_experiment(
            settings.tracking_uri, experiment, artifact_root=settings.artifact_root
        )
    )
    with mlflow.start_run() as run:
        mlflow.log_metric("test_accuracy", model.score(test, y_test))
        mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(train, model.predict(train)),
            input_example=train.head(5),
            pip_requirements=["scikit-learn"],
        )
    return run.info.run_id, train


def main() -> None:
    """Log the model, then adopt it with the CLI."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--name", default="breast-cancer", help="the registered model name")
    args = parser.parse_args()
    run_id, train = log_notebook_model()
    with tempfile.TemporaryDirectory(prefix="notebook-") as scratch:
        reference = Path(scratch) / "train.parquet"
        train.to_parquet(reference, index=False)  # type: ignore[attr-defined]
        command = ["models", "register", "--model-uri", f"runs:/{run_id}/model", "--name", args.name]
        print("kubeloop", " ".join(command), "--reference", reference.name, flush=True)
        subprocess.run(
            [sys.executable, "-m", "kubeloop", *command, "--reference", str(reference)], check=True
        )


if __name__ == "__main__":
    main()
