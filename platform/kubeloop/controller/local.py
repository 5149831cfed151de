"""Wiring the controller for local mode: the gateway router, local model servers, scrapes, prediction logs.

The deployment is the one `kubeloop deploy` recorded; model servers are the local processes it
started (`LocalServers`: the challenger's server is started when its rollout starts and stopped when
it is no longer needed); metrics come from Prometheus when KUBELOOP_PROMETHEUS_URL is set, else from direct
scrapes of the gateway's and the servers' `/metrics`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from kubeloop.analysis.measure import LabeledReader, PredictionReader
from kubeloop.controller.loop import Controller, Ports
from kubeloop.controller.telemetry import RolloutMetrics
from kubeloop.errors import SpecError
from kubeloop.metricsources.base import MetricSource
from kubeloop.settings import Settings
from kubeloop.spec import RolloutSpec
from kubeloop.telemetry.queries import Query

if TYPE_CHECKING:
    from kubeloop.local.processes import ProcessRecord

# Prediction logs reach the store in batches (every 0.2 s); reading the window this much later
# keeps records still in flight from being missed by both this window and the next.
LOG_LAG_SECONDS = 0.5


@dataclass(frozen=True, kw_only=True)
class LocalTarget:
    """A deployed deployment: its model, default strategy and how its servers run."""

    deployment: str
    model: str
    strategy: RolloutSpec
    runtime: str
    workers: int
    max_batch_rows: int


def load_target(settings: Settings, deployment: str) -> LocalTarget:
    """The deployment `kubeloop deploy` recorded, or NotFoundError naming it."""
    from kubeloop.local.processes import load_deployed

    spec = load_deployed(settings, deployment).spec
    return LocalTarget(
        deployment=deployment,
        model=spec.model.name,
        strategy=spec.rollout,
        runtime=spec.serving.runtime if spec.serving.runtime in ("kserve", "bentoml") else "kserve",
        workers=spec.serving.workers,
        max_batch_rows=spec.serving.max_batch_size,
    )


def check_sources(settings: Settings, spec: RolloutSpec) -> None:
    """Refuse custom PromQL checks when there is no Prometheus to run them on."""
    custom = [c.name for c in spec.checks if c.kind == "promql"]
    if custom and not settings.prometheus_url:
        raise SpecError(f"checks {custom} are promql checks: set KUBELOOP_PROMETHEUS_URL to a Prometheus")


class LocalServers:
    """The ModelServers of a local deployment: one model-server process per version, from its records."""

    def __init__(self, settings: Settings, target: LocalTarget) -> None:
        self.settings, self.target = settings, target

    def ready(self, version: str) -> bool:
        """True when a live server of `version` is recorded (it answered before it was recorded)."""
        from kubeloop.local.processes import server_records

        records = server_records(self.settings, self.target.deployment)
        return any(r.version == str(version) and r.alive() for r in records)

    def start(self, version: str) -> None:
        """Start a model server for `version` unless one runs; returns once it answers."""
        from kubeloop.local.processes import start_server

        target = self.target
        start_server(
            self.settings,
            deployment=target.deployment,
            model=target.model,
            version=str(version),
            runtime=target.runtime,
            workers=target.workers,
            max_batch_rows=target.max_batch_rows,
        )

    def retire(self, version: str) -> None:
        """Stop the server of a version the deployment no longer routes to (forgotten first)."""
        from kubeloop.local.processes import stop_server

        stop_server(self.settings, self.target.deployment, str(version))


def metrics_targets(settings: Settings, deployment: str) -> list[str]:
    """The `/metrics` URLs of the gateway and of the deployment's live servers."""
    from kubeloop.local.processes import gateway_record, server_records

    gateway = gateway_record(settings)
    urls = [f"{gateway.url}/metrics"] if gateway is not None else []
    return urls + [f"{r.url}/metrics" for r in server_records(settings, deployment) if r.alive()]


def controller_for(
    settings: Settings,
    target: LocalTarget,
    *,
    metrics: MetricSource | None = None,
    telemetry: RolloutMetrics | None = None,
) -> Controller:
    """A controller on the local gateway and registry; `metrics` defaults to Prometheus when configured."""
    from kubeloop.metricsources.prometheus import PrometheusSource
    from kubeloop.registry.mlflow_registry import MlflowRegistry
    from kubeloop.rollout.file_store import FileStateStore
    from kubeloop.routing.gateway import GatewayRouter

    if metrics is None and settings.prometheus_url:
        metrics = PrometheusSource(settings.prometheus_url)
    return Controller(
        Ports(
            router=GatewayRouter.from_settings(settings).bound(target.deployment),
            servers=LocalServers(settings, target),
            registry=MlflowRegistry.from_settings(settings),
            metrics=metrics or _NoMetrics(),
            store=FileStateStore(settings.state_dir),
            predictions=_prediction_reader(settings, target.deployment),
            labeled=_labeled_reader(settings, target.deployment),
            telemetry=telemetry,
        )
    )


@contextmanager
def running_controller(
    settings: Settings, deployment: str, *, telemetry: RolloutMetrics | None = None
) -> Iterator[Controller]:
    """A controller with its metric scrapes running (local mode) for as long as the block runs."""
    from kubeloop.metricsources.scrape import ScrapeSource

    target = load_target(settings, deployment)
    hook = telemetry.scrape_failed(deployment) if telemetry is not None else None
    scrape = None if settings.prometheus_url else ScrapeSource(
        lambda: metrics_targets(settings, deployment), on_failure=hook
    )
    if scrape is not None:
        period = min(1.0, target.strategy.canary.interval / 4)
        scrape.period = period
        scrape.start()
    try:
        yield controller_for(settings, target, metrics=scrape, telemetry=telemetry)
    finally:
        if scrape is not None:
            scrape.close()


def pid_file(settings: Settings, deployment: str) -> Path:
    """Where a running controller records its process id."""
    path = settings.state_dir / "rollouts" / f"{deployment}.pid"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def live_pid(settings: Settings, deployment: str) -> int | None:
    """The process id of the deployment's running controller (checked against its start time), or None."""
    records = controller_records(settings, deployment)
    return records[0].pid if records else None


def record_file(settings: Settings, deployment: str) -> Path:
    """Where a running controller records its pid and the loopback port its metrics are served on."""
    path = settings.state_dir / "rollouts" / "controllers" / f"{deployment}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def controller_records(settings: Settings, deployment: str | None = None) -> list[ProcessRecord]:
    """The records of the live controllers (of one deployment, or all), for status and scrape targets."""
    from kubeloop.local.processes import read_record

    root = settings.state_dir / "rollouts" / "controllers"
    paths = [record_file(settings, deployment)] if deployment else sorted(root.glob("*.json"))
    return [r for r in (read_record(p) for p in paths) if r is not None]


def _prediction_reader(settings: Settings, deployment: str) -> PredictionReader:
    def read(version: str, since: float, until: float) -> pd.DataFrame:
        from kubeloop.predlog.reader import read_predictions

        return read_predictions(
            settings,
            deployment,
            version=version,
            since=since - LOG_LAG_SECONDS,
            until=until - LOG_LAG_SECONDS,
        )

    return read


def _labeled_reader(settings: Settings, deployment: str) -> LabeledReader:
    from kubeloop.labels.store import LocalLabelStore

    store = LocalLabelStore.from_settings(settings)
    return lambda since, until: store.read(deployment, since - LOG_LAG_SECONDS, until - LOG_LAG_SECONDS)


class _NoMetrics:
    """For by-hand commands, which decide without measuring."""

    def query(self, query: Query) -> float | None:
        """No data."""
        return None
