"""The project config: a `kubeloop.yaml` naming the project's own pipelines beside the built-in ones.

    pipelines:
      wine:                                    # `kubeloop pipeline run wine`, `drift.pipeline: wine`
        source: pipelines/wine.py:wine_pipeline    # relative to this file, or package.module:function
        description: LightGBM on the wine data
        params: {model_name: wine}             # defaults; -p on the command line wins

Found at $KUBELOOP_CONFIG when set, else as `kubeloop.yaml` in the working directory or the nearest
folder above it (the way git and ruff find theirs). An invalid file is refused with the field path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from kubeloop.errors import SpecError
from kubeloop.spec import Frozen, describe_validation_error, read_yaml

CONFIG_ENV = "KUBELOOP_CONFIG"
CONFIG_FILE = "kubeloop.yaml"


class RegisteredPipeline(Frozen):
    """One of the project's pipelines: where its function is, what it does, its default parameters."""

    source: str = Field(min_length=1)
    description: str = ""
    params: dict[str, Any] = Field(default_factory=dict)


class ProjectConfig(Frozen):
    """The `kubeloop.yaml` file's content."""

    pipelines: dict[str, RegisteredPipeline] = Field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Project:
    """The config and the folder its relative paths start from (None: no project file was found)."""

    path: Path | None = None
    config: ProjectConfig = field(default_factory=ProjectConfig)

    @property
    def folder(self) -> Path:
        """Where relative pipeline sources are resolved from."""
        return self.path.parent if self.path is not None else Path.cwd()


def find_config(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Path | None:
    """The project file: $KUBELOOP_CONFIG, else kubeloop.yaml here or in the nearest parent folder."""
    env = os.environ if env is None else env
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV]).expanduser().resolve()
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder / CONFIG_FILE
    return None


def load_project(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Project:
    """The project config, or an empty one when there is no file; SpecError names the bad field."""
    path = find_config(env, cwd)
    if path is None:
        return Project()
    data = read_yaml(path) or {}
    if not isinstance(data, Mapping):
        raise SpecError(f"{path}: expected a mapping with `pipelines:`, got {type(data).__name__}")
    try:
        return Project(path=path, config=ProjectConfig.model_validate(dict(data)))
    except ValidationError as error:
        raise SpecError(f"{path}: {describe_validation_error(error)}") from None
