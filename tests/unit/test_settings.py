"""Settings: where local state lives and which tracking URI is used."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeloop.settings import load_settings


def test_defaults_keep_everything_under_the_home(tmp_path: Path) -> None:
    settings = load_settings({"KUBELOOP_HOME": str(tmp_path / "h")})
    assert settings.home == (tmp_path / "h").resolve()
    assert settings.tracking_uri == f"sqlite:///{settings.home / 'mlflow.db'}"
    assert settings.is_local_store
    assert settings.prometheus_url is None


def test_default_home_is_in_the_users_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert load_settings({}).home == (tmp_path / ".kubeloop").resolve()


def test_kubeloop_tracking_uri_wins_over_mlflows(tmp_path: Path) -> None:
    env = {
        "KUBELOOP_HOME": str(tmp_path),
        "KUBELOOP_TRACKING_URI": "http://127.0.0.1:5000",
        "MLFLOW_TRACKING_URI": "http://elsewhere:5000",
    }
    settings = load_settings(env)
    assert settings.tracking_uri == "http://127.0.0.1:5000"
    assert not settings.is_local_store
    assert load_settings({"MLFLOW_TRACKING_URI": "http://m:1"}).tracking_uri == "http://m:1"


def test_ensure_dirs_creates_the_state_folders(settings) -> None:  # fixture
    for folder in (settings.artifacts_dir, settings.logs_dir, settings.state_dir, settings.reports_dir):
        assert folder.is_dir()
    assert settings.ensure_dirs() is settings
