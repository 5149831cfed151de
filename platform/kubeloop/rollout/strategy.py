"""Read a rollout strategy from a file: a bare strategy, one under `rollout`, or a whole ModelDeployment."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kubeloop.errors import SpecError
from kubeloop.spec import RolloutSpec, describe_validation_error, read_yaml


def parse_strategy(data: Any, *, source: str = "strategy") -> RolloutSpec:
    """Validate a strategy mapping; errors name the field, e.g. `rollout.canary.steps[1]: ...`."""
    if isinstance(data, Mapping) and data.get("kind") == "ModelDeployment":
        data = (data.get("spec") or {}).get("rollout") or {}
    elif isinstance(data, Mapping) and set(data) == {"rollout"}:
        data = data["rollout"]
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise SpecError(f"{source}: expected a rollout strategy mapping, got {type(data).__name__}")
    try:
        return RolloutSpec.model_validate(dict(data))
    except ValidationError as error:
        problems = describe_validation_error(error).replace("; ", "; rollout.")
        raise SpecError(f"{source}: invalid rollout strategy: rollout.{problems}") from None


def load_strategy(path: str | Path) -> RolloutSpec:
    """Read and validate a strategy file (YAML or JSON)."""
    path = Path(path)
    return parse_strategy(read_yaml(path), source=str(path))
