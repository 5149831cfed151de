"""Chart fixtures: each scenario rendered once per session, and the upstream CRDs folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from rendering import SCENARIOS, crds_folder, render, values_args


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """Every scenario rendered once for the whole session."""
    return {name: render(*values_args(name)) for name in SCENARIOS}


@pytest.fixture(scope="session")
def crds_dir() -> Path:
    """The upstream CRDs folder; a missing setting fails (never skips) with how to set it."""
    try:
        return crds_folder(os.environ)
    except LookupError as exc:
        pytest.fail(str(exc))
