"""Fakes for the controller's ports: a registry with aliases and tags, metrics from a dial, a clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubeloop.errors import NotFoundError
from kubeloop.telemetry.names import GATEWAY_RETRIES_TOTAL
from kubeloop.telemetry.queries import Quantile, Query, Rate


@dataclass
class Version:
    version: str


@dataclass
class FakeRegistry:
    """Aliases and tags of one model's versions, with the same promote semantics as MlflowRegistry."""

    versions: set[str] = field(default_factory=lambda: {"1", "2", "3"})
    aliases: dict[str, str] = field(default_factory=lambda: {"champion": "1"})
    tags: dict[str, dict[str, str]] = field(default_factory=dict)
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def get_version(self, name: str, version: str | int) -> Version:
        if str(version) not in self.versions:
            raise NotFoundError(f"model {name!r} has no version {version}")
        return Version(str(version))

    def version_for_alias(self, name: str, alias: str) -> Version | None:
        return Version(self.aliases[alias]) if alias in self.aliases else None

    def set_alias(self, *, name: str, alias: str, version: str | int) -> None:
        self.calls.append(("set_alias", alias, str(version)))
        self.aliases[alias] = str(version)

    def promote(self, *, name: str, version: str | int) -> Version:
        self.calls.append(("promote", str(version)))
        old = self.aliases.get("champion")
        if old is not None and old != str(version):
            self.aliases["previous"] = old
        self.aliases["champion"] = str(version)
        if self.aliases.get("challenger") == str(version):
            del self.aliases["challenger"]
        return Version(str(version))

    def set_tags(self, *, name: str, version: str | int, tags: Any) -> None:
        self.calls.append(("set_tags", str(version)))
        self.tags.setdefault(str(version), {}).update({k: str(v) for k, v in tags.items()})


@dataclass
class DialMetrics:
    """Answers kubeloop's check queries: the challenger's error rate is whatever `errors` is set to."""

    errors: float = 0.0
    count: float = 1000.0
    p99: float = 0.02
    retries: float = 0.0

    def query(self, query: Query) -> float | None:
        if isinstance(query, Quantile):
            return self.p99
        assert isinstance(query, Rate), query
        if query.selector.metric == GATEWAY_RETRIES_TOTAL:
            return self.retries
        if any(m.label == "status" for m in query.selector.matchers):
            return self.errors * self.count
        return self.count


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now
