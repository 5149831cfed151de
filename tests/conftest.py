"""Fixtures shared by every test: an isolated KUBELOOP_HOME so no test touches the user's state."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeloop.settings import HOME_ENV, TRACKING_ENV, Settings, load_settings


@pytest.fixture
def kubeloop_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh KUBELOOP_HOME with the default SQLite registry inside it."""
    home = tmp_path / "kubeloop-home"
    monkeypatch.setenv(HOME_ENV, str(home))
    monkeypatch.delenv(TRACKING_ENV, raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return home


@pytest.fixture
def settings(kubeloop_home: Path) -> Settings:
    """Settings pointing at the isolated home, with its folders created."""
    return load_settings().ensure_dirs()
