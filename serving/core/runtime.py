"""A model-server process: its frozen config (flags or environment) and how it builds its engine."""

from __future__ import annotations

import gc
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeloop.labels.serving import labeling_policy, record_served_schema
from kubeloop.predlog import CloudEventsSink, LogStore, PredictionLogger
from kubeloop.serving.core.engine import Engine
from kubeloop.serving.core.limits import SERVER_PREFIX, HttpLimits
from kubeloop.serving.core.metrics import ServerMetrics
from kubeloop.serving.core.model import LoadedModel, load_registered
from kubeloop.settings import Settings, load_settings

ENV_PREFIX = SERVER_PREFIX


@dataclass(frozen=True, kw_only=True)
class RuntimeConfig:
    """One model server: which deployment and model version, where it listens, how it logs."""

    deployment: str
    model: str
    ref: str
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    max_batch_rows: int = 64
    log_sink_url: str | None = None
    log_to_store: bool = True
    # The deployment's labeling policy as JSON (kubeloop.labels.serving.policy_json); empty: none.
    labeling: str = ""
    limits: HttpLimits = field(default_factory=HttpLimits)
    # BentoML workers: replaced after this many requests, or above this resident memory (0: never).
    max_requests: int = 0
    max_rss_mb: int = 0

    def to_env(self) -> dict[str, str]:
        """The config as environment variables, for runtimes started by another program (bentoml serve)."""
        values = {
            "DEPLOYMENT": self.deployment, "MODEL": self.model, "REF": self.ref, "HOST": self.host,
            "PORT": str(self.port), "WORKERS": str(self.workers), "MAX_BATCH_ROWS": str(self.max_batch_rows),
            "LOG_SINK_URL": self.log_sink_url or "", "LOG_TO_STORE": "1" if self.log_to_store else "0",
            "LABELING": self.labeling,
            "MAX_REQUESTS": str(self.max_requests), "MAX_RSS_MB": str(self.max_rss_mb),
        }
        own = {ENV_PREFIX + key: value for key, value in values.items()}
        return {**own, **self.limits.to_env(SERVER_PREFIX)}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RuntimeConfig:
        """The config from KUBELOOP_SERVE_* variables; a missing required one is named."""
        env = os.environ if env is None else env

        def get(key: str, default: str | None = None) -> str:
            value = env.get(ENV_PREFIX + key, default)
            if value is None:
                raise KeyError(f"{ENV_PREFIX}{key} is not set")
            return value

        return cls(
            deployment=get("DEPLOYMENT"), model=get("MODEL"), ref=get("REF", "champion"),
            host=get("HOST", "127.0.0.1"), port=int(get("PORT", "8080")), workers=int(get("WORKERS", "1")),
            max_batch_rows=int(get("MAX_BATCH_ROWS", "64")), log_sink_url=get("LOG_SINK_URL", "") or None,
            log_to_store=get("LOG_TO_STORE", "1") == "1", labeling=get("LABELING", ""),
            **tunables_from_env(env),
        )


def tunables_from_env(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The settings a user tunes through the environment rather than the deployment: HTTP limits and
    BentoML worker recycling (`KUBELOOP_SERVE_HEADER_TIMEOUT`, `..._MAX_REQUESTS`, `..._MAX_RSS_MB`)."""
    env = os.environ if env is None else env
    return {"limits": HttpLimits.from_env(SERVER_PREFIX, env),
            "max_requests": int(env.get(ENV_PREFIX + "MAX_REQUESTS") or 0),
            "max_rss_mb": int(env.get(ENV_PREFIX + "MAX_RSS_MB") or 0)}


def load_model(config: RuntimeConfig, settings: Settings | None = None) -> LoadedModel:
    """Load the configured version from the registry, verified."""
    return load_registered(settings or load_settings(), name=config.model, ref=config.ref)


def build_engine(config: RuntimeConfig, model: LoadedModel, *, settings: Settings | None = None) -> Engine:
    """The engine of one server process, with its prediction logger and metrics (call after fork)."""
    settings = settings or load_settings()
    # The estimator is fed float matrices in signature order; the feature-name check is redundant.
    warnings.filterwarnings("ignore", message="X does not have valid feature names")
    sinks: list[LogStore | CloudEventsSink] = []
    if config.log_to_store:
        sinks.append(LogStore(settings.logs_dir))
    if config.log_sink_url:
        sinks.append(CloudEventsSink(config.log_sink_url, source=f"kubeloop/{config.deployment}"))
    if config.log_to_store:
        record_served_schema(settings.logs_dir, deployment=config.deployment, version=model.version,
                             classes=model.classes, estimator=model.estimator)
    logger = PredictionLogger(sinks) if sinks else None
    metrics = ServerMetrics(deployment=config.deployment, model=model.name, version=model.version,
                            logger=logger)
    return Engine(model, deployment=config.deployment, logger=logger, metrics=metrics,
                  labeling=labeling_policy(config.labeling),
                  max_batch_rows=config.max_batch_rows, max_bytes=config.limits.max_body)


def settle_heap() -> None:
    """Collect once, then freeze what is left (the libraries and the model) out of the collector's reach.

    The imports and the model leave about a million long-lived objects; every full collection walked
    them all, a pause of 100-200 ms that put 1% of requests under load at 80 ms or more. Frozen,
    collections scan only the requests' own garbage.
    """
    gc.collect()
    gc.freeze()
