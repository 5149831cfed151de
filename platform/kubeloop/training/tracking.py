"""MLflow tracking for training: the experiment, the run's record, the model and the reference artefacts."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubeloop.registry.mlflow_registry import active_tracking_uri
from kubeloop.registry.names import MODEL_ARTIFACT_PATH, REFERENCE_SAMPLE_PATH, TAG_PIPELINE_RUN

REFERENCE_ROWS = 1000  # enough rows for a drift test's statistics, small enough to log on every run


def tracking_client(tracking_uri: str) -> Any:
    """An MlflowClient bound to one tracking URI (registry on the same URI)."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def logged_model_location(tracking_uri: str, model_uri: str) -> str:
    """The artifact location of a logged model `models:/m-<id>`."""
    model_id = model_uri.removeprefix("models:/")
    return str(tracking_client(tracking_uri).get_logged_model(model_id).artifact_location)


def ensure_experiment(tracking_uri: str, name: str, *, artifact_root: str = "") -> str:
    """The experiment's id, created on first use; with a local store its artifacts go under artifact_root."""
    client = tracking_client(tracking_uri)
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    location = (Path(artifact_root) / name).resolve().as_uri() if artifact_root else None
    try:
        return str(client.create_experiment(name, artifact_location=location))
    except Exception:  # a concurrent run may have created it; fetch it, else re-raise
        again = client.get_experiment_by_name(name)
        if again is None:
            raise
        return str(again.experiment_id)


def log_model(*, tracking_uri: str, run_id: str, model: Any, features: Any) -> str:
    """Log the fitted scikit-learn pipeline with its signature and input example; return its models:/ URI.

    skops is MLflow's safe default format; the types our pipelines use (tree structures of the
    ensembles) are declared trusted so every supported estimator saves and loads.
    """
    import mlflow
    import mlflow.sklearn
    import skops.io
    from mlflow.models import infer_signature

    trusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
    example = features.head(5)
    signature = infer_signature(features.head(100), model.predict(features.head(100)))
    with active_tracking_uri(tracking_uri), mlflow.start_run(run_id=run_id):
        info = mlflow.sklearn.log_model(
            model,
            name=MODEL_ARTIFACT_PATH,
            signature=signature,
            input_example=example,
            pip_requirements=_requirements(),
            skops_trusted_types=trusted,
        )
    return str(info.model_uri)


def log_reference_artifacts(
    *, tracking_uri: str, run_id: str, train_features: Any, seed: int, predictions: Any = None
) -> None:
    """Log what drift detection compares live traffic with; the one hook for more reference artefacts.

    A sample of the training inputs at REFERENCE_SAMPLE_PATH (Parquet), and the drift module's
    reference profile (REFERENCE_PROFILE_PATH) of all training inputs and the model's predictions.
    """
    from kubeloop.drift.store import log_reference_profile

    sample = train_features.sample(n=min(REFERENCE_ROWS, len(train_features)), random_state=seed)
    client = tracking_client(tracking_uri)
    folder, _, filename = REFERENCE_SAMPLE_PATH.rpartition("/")
    with tempfile.TemporaryDirectory(prefix="kubeloop-reference-") as scratch:
        path = Path(scratch) / filename
        sample.reset_index(drop=True).to_parquet(path, index=False)
        client.log_artifact(run_id, str(path), artifact_path=folder or None)
    log_reference_profile(
        tracking_uri=tracking_uri, run_id=run_id, features=train_features, predictions=predictions
    )


def record_run(
    *,
    tracking_uri: str,
    experiment_id: str,
    params: Mapping[str, Any],
    metrics: Mapping[str, float],
    tags: Mapping[str, str],
) -> str:
    """Create a finished-looking run record with params, metrics and tags; return its id."""
    from mlflow.entities import Metric, Param

    client = tracking_client(tracking_uri)
    run = client.create_run(experiment_id, tags=dict(tags))
    stamp = run.info.start_time
    client.log_batch(
        run.info.run_id,
        metrics=[Metric(k, float(v), stamp, 0) for k, v in metrics.items()],
        params=[Param(k, str(v)[:6000]) for k, v in params.items()],
    )
    return str(run.info.run_id)


def annotate_run(
    *, tracking_uri: str, run_id: str, metrics: Mapping[str, float], tags: Mapping[str, str]
) -> None:
    """Add metrics and tags to an existing run (finished runs included: evaluation comes after training)."""
    import time

    from mlflow.entities import Metric, RunTag

    stamp = int(time.time() * 1000)
    tracking_client(tracking_uri).log_batch(
        run_id,
        metrics=[Metric(k, float(v), stamp, 0) for k, v in metrics.items()],
        tags=[RunTag(k, str(v)[:5000]) for k, v in tags.items()],
    )


def find_runs(*, tracking_uri: str, pipeline_run: str) -> list[Any]:
    """The MLflow runs a pipeline run's steps tagged with its id, in any experiment, newest first."""
    if not pipeline_run:
        return []
    client = tracking_client(tracking_uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    return list(
        client.search_runs(
            experiments,
            filter_string=f"tags.`{TAG_PIPELINE_RUN}` = '{pipeline_run}'",
            order_by=["attributes.start_time DESC"],
            max_results=50,
        )
    )


def finish_run(*, tracking_uri: str, run_id: str, tags: Mapping[str, str], failed: bool = False) -> None:
    """Add the closing tags and mark the run FINISHED (or FAILED)."""
    client = tracking_client(tracking_uri)
    for key, value in tags.items():
        client.set_tag(run_id, key, value)
    client.set_terminated(run_id, status="FAILED" if failed else "FINISHED")


def _requirements() -> list[str]:
    """Pinned requirements of the model environment, so MLflow need not infer them (a slow subprocess)."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in ("scikit-learn", "pandas", "numpy", "scipy", "skops")]
