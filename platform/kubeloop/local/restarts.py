"""The supervisor's restart log: per supervised process, its restarts, crash streak and last reason.

Kept in `<state_dir>/supervisor/restarts.json` (the supervisor writes it, atomically; `kubeloop
status` reads it) and exported as `kubeloop_local_restarts_total`, read from the log at scrape time
so the count survives a restart of the supervisor itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from prometheus_client.core import CounterMetricFamily

from kubeloop.local.supervision import RestartHistory
from kubeloop.settings import Settings
from kubeloop.telemetry import names

GATEWAY_KEY = "gateway"


@dataclass(frozen=True, kw_only=True)
class Supervised:
    """Which process a history belongs to: the gateway, or one version's model server."""

    kind: str
    deployment: str = ""
    version: str = ""

    @property
    def key(self) -> str:
        """The log's key: `gateway` or `<deployment>/v<version>`."""
        return GATEWAY_KEY if self.kind == "gateway" else f"{self.deployment}/v{self.version}"


def log_path(settings: Settings) -> Path:
    """Where the restart log lives."""
    return settings.state_dir / "supervisor" / "restarts.json"


def load_log(path: Path) -> dict[Supervised, RestartHistory]:
    """The restart log (empty when there is none yet)."""
    try:
        entries = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    return {Supervised(**entry["process"]): RestartHistory(**entry["history"]) for entry in entries}


def save_log(path: Path, log: Mapping[Supervised, RestartHistory]) -> None:
    """Write the log atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = [{"process": asdict(p), "history": asdict(h)} for p, h in sorted(log.items(), key=_by_key)]
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(entries, indent=2))
    temporary.replace(path)


def summary(log: Mapping[Supervised, RestartHistory]) -> list[dict[str, Any]]:
    """The log as `kubeloop status` shows it: one entry per process that was ever restarted."""
    return [{**asdict(p), "restarts": h.restarts, "last_restart_at": h.last_at, "last_reason": h.last_reason}
            for p, h in sorted(log.items(), key=_by_key) if h.restarts]


class RestartsCollector:
    """`kubeloop_local_restarts_total{kind, deployment, version}`, read from the log at each scrape."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def collect(self) -> Iterator[CounterMetricFamily]:
        """One sample per process the log knows."""
        family = CounterMetricFamily(names.LOCAL_RESTARTS_TOTAL.removesuffix("_total"),
                                     "Local processes restarted by the supervisor after they died",
                                     labels=["kind", "deployment", "version"])
        for process, history in sorted(load_log(self._path).items(), key=_by_key):
            family.add_metric([process.kind, process.deployment, process.version], history.restarts)
        yield family


def _by_key(item: tuple[Supervised, RestartHistory]) -> str:
    return item[0].key
