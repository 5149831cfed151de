"""The drift job wired for local mode: MLflow from the settings, the prediction-log store, kfp.local."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from kubeloop.drift.job import DriftJob, LogReader, RolloutStarter
from kubeloop.drift.metrics import DriftMetrics
from kubeloop.settings import Settings


def log_reader(settings: Settings) -> LogReader:
    """Read a version's logged predictions in [since, until) from the local prediction-log store."""

    def read(deployment: str, version: str, since: float, until: float) -> pd.DataFrame:
        from kubeloop.predlog import read_predictions

        return read_predictions(settings, deployment, version=version, since=since, until=until)

    return read


def local_job(
    settings: Settings,
    *,
    retrain: bool = True,
    wait_timeout: float = 0.0,
    start_rollout: RolloutStarter | None = None,
    metrics: DriftMetrics | None = None,
    html_reports: bool = True,
) -> DriftJob:
    """A DriftJob on this machine's registry, logs and labels; retraining runs the pipeline with kfp.local."""
    from kubeloop.drift.store import MlflowDriftStore
    from kubeloop.labels.store import LocalLabelStore
    from kubeloop.registry.mlflow_registry import check_reachable

    settings.ensure_dirs()
    check_reachable(settings.tracking_uri)
    runner = None
    if retrain:
        from kubeloop.pipelines.local import LocalPipelineRunner

        runner = LocalPipelineRunner(settings=settings)
    job = DriftJob(
        store=MlflowDriftStore(tracking_uri=settings.tracking_uri),
        read_logs=log_reader(settings),
        state_dir=settings.state_dir,
        runner=runner,
        pushgateway_url=settings.pushgateway_url,
        start_rollout=start_rollout,
        wait_timeout=wait_timeout,
        html_reports=html_reports,
        labels=LocalLabelStore.from_settings(settings),
    )
    return replace(job, metrics=metrics) if metrics is not None else job
