"""The MLflow registry the operator's tests share: a real one (SQLite), versions registered as
`kubeloop.serving.testing` registers them."""

from __future__ import annotations

from dataclasses import dataclass

from kubeloop.registry.mlflow_registry import MlflowRegistry
from kubeloop.registry.names import CHAMPION
from kubeloop.settings import Settings


@dataclass(frozen=True)
class Models:
    """A real MLflow registry (SQLite, shared by the test and the operators it starts) holding one iris
    classifier trained and registered as `kubeloop.serving.testing` does; `versions` registers copies of
    it as new versions of another model (the operator reads versions and aliases, kwok runs no server)."""

    settings: Settings
    seed_uri: str

    @property
    def registry(self) -> MlflowRegistry:
        """The registry client."""
        return MlflowRegistry(tracking_uri=self.settings.tracking_uri)

    def versions(self, model: str, count: int) -> list[str]:
        """Register `count` versions of a new model, the first as its champion."""
        registry = self.registry
        return [registry.register(name=model, model_uri=self.seed_uri, run_id=None, tags={},
                                  aliases=() if i else (CHAMPION,)).version for i in range(count)]
