"""Chart fixtures: each scenario rendered once per session, and the upstream CRDs folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from rendering import CRDS_ENV, SCENARIOS, render, values_args


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """Every scenario rendered once for the whole session."""
    return {name: render(*values_args(name)) for name in SCENARIOS}


@pytest.fixture(scope="session")
def crds_dir() -> Path:
    """The upstream CRDs folder; a missing setting fails (never skips) with how to set it."""
    value = os.environ.get(CRDS_ENV)
    if not value:
        pytest.fail(f"{CRDS_ENV} is not set: point it at the folder of upstream CRDs "
                    f"(.ci/run exports it; e.g. export {CRDS_ENV}=../shared/crds)")
    path = Path(value)
    if not path.is_dir():
        pytest.fail(f"{CRDS_ENV}={value} is not a folder of CRD YAML files")
    return path
