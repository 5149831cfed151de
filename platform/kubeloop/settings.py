"""Where kubeloop keeps local state and which systems it talks to, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "KUBELOOP_HOME"
TRACKING_ENV = "KUBELOOP_TRACKING_URI"
PROMETHEUS_ENV = "KUBELOOP_PROMETHEUS_URL"
PUSHGATEWAY_ENV = "KUBELOOP_PUSHGATEWAY_URL"


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Local state folder and backend addresses; one frozen object passed to whoever needs it."""

    home: Path
    tracking_uri: str
    prometheus_url: str | None = None
    pushgateway_url: str | None = None

    @property
    def artifacts_dir(self) -> Path:
        """Where MLflow artifacts live when the tracking store is the local SQLite database."""
        return self.home / "mlartifacts"

    @property
    def logs_dir(self) -> Path:
        """The append-only prediction-log store."""
        return self.home / "predictions"

    @property
    def state_dir(self) -> Path:
        """Deployments, rollout state files and process records of `kubeloop up` and `deploy`."""
        return self.home / "state"

    @property
    def reports_dir(self) -> Path:
        """Drift and rollout reports written by the local mode."""
        return self.home / "reports"

    @property
    def is_local_store(self) -> bool:
        """True when the registry is the embedded SQLite store rather than a tracking server."""
        return self.tracking_uri.startswith("sqlite:")

    @property
    def artifact_root(self) -> str:
        """Where new experiments keep artifacts: under home with the local store, else the server's choice.

        MLflow's own default for a SQLite store is `./mlruns` in the working directory, which would
        scatter model artifacts wherever a command happened to run.
        """
        return str(self.artifacts_dir) if self.is_local_store else ""

    def ensure_dirs(self) -> Settings:
        """Create the local folders (idempotent) and return self, so callers can chain it."""
        for path in (self.home, self.artifacts_dir, self.logs_dir, self.state_dir, self.reports_dir):
            path.mkdir(parents=True, exist_ok=True)
        return self


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from environment variables; the defaults keep everything under ~/.kubeloop."""
    env = os.environ if env is None else env
    home = Path(env.get(HOME_ENV) or Path.home() / ".kubeloop").expanduser().resolve()
    tracking = env.get(TRACKING_ENV) or env.get("MLFLOW_TRACKING_URI") or f"sqlite:///{home / 'mlflow.db'}"
    return Settings(
        home=home,
        tracking_uri=tracking,
        prometheus_url=env.get(PROMETHEUS_ENV) or None,
        pushgateway_url=env.get(PUSHGATEWAY_ENV) or None,
    )
