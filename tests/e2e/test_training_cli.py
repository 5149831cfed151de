"""Training through the CLI: bad input is one clear line with exit 1, and nothing gets registered;
`kubeloop up` serves a real MLflow server over HTTP that training and the registry use the same way.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd
import pytest
from rollout_harness import main_in_process

from kubeloop.local.processes import free_port
from kubeloop.registry.mlflow_registry import MlflowRegistry
from kubeloop.settings import Settings, load_settings

pytestmark = [pytest.mark.e2e]


def cli(
    home: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *args: str,
    tracking_uri: str | None = None,
) -> tuple[int, str]:
    """Run the CLI's entry point in this process (no interpreter start-up); return (exit code, stderr)."""
    monkeypatch.setenv("KUBELOOP_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    if tracking_uri:
        monkeypatch.setenv("KUBELOOP_TRACKING_URI", tracking_uri)
    else:
        monkeypatch.delenv("KUBELOOP_TRACKING_URI", raising=False)
    code, _, err = main_in_process(capfd, *args)
    return code, err


def kubeloop(home: Path, *args: str, tracking_uri: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI against `home` (and a tracking URI when given)."""
    env = {k: v for k, v in os.environ.items() if k not in ("KUBELOOP_TRACKING_URI", "MLFLOW_TRACKING_URI")}
    env["KUBELOOP_HOME"] = str(home)
    if tracking_uri:
        env["KUBELOOP_TRACKING_URI"] = tracking_uri
    return subprocess.run(
        [sys.executable, "-m", "kubeloop", *args], env=env, capture_output=True, text=True, timeout=300
    )


def assert_nothing_registered(home: Path) -> None:
    """No registry store was even created, or it holds no model."""
    if (home / "mlflow.db").exists():
        assert MlflowRegistry.from_settings(load_settings({"KUBELOOP_HOME": str(home)})).list_models() == []



@pytest.fixture(scope="module")
def bad_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A table with a free-text column that cannot be encoded."""
    folder = tmp_path_factory.mktemp("bad-data")
    frame = pd.DataFrame(
        {"x": range(40), "comment": [f"free text {i}" for i in range(40)], "target": [0, 1] * 20}
    )
    frame.to_csv(folder / "notes.csv", index=False)
    return folder / "notes.csv"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "no/such/file.csv"], "error: data: file not found: no/such/file.csv"),
        (["--target", "species"], "error: target column 'species' not found; columns are: sepal_length_cm"),
        (["--estimator", "svm"], "error: estimator: unknown 'svm'; choose one of logistic, linear"),
        (["-p", "colour=red"], "error: unknown training parameter(s) colour"),
    ],
)
def test_bad_input_is_one_line_and_registers_nothing(
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    code, err = cli(tmp_path, capfd, monkeypatch, "pipeline", "run", "training", *args)
    assert code == 1
    assert err.strip().startswith(message)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "pipelines").exists() or not any((tmp_path / "pipelines").iterdir())
    assert_nothing_registered(tmp_path)


def test_a_column_that_cannot_be_encoded_is_named(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, bad_data: Path
) -> None:
    code, err = cli(tmp_path, capfd, monkeypatch, "pipeline", "run", "training", "--data", str(bad_data))
    assert code == 1
    assert err.strip() == (
        "error: column 'comment': non-numeric with 40 distinct values in 40 rows cannot be encoded "
        "as a category (at most 20)"
    )
    assert_nothing_registered(tmp_path)


def test_an_unreachable_tracking_server_is_one_line(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    code, err = cli(
        tmp_path, capfd, monkeypatch, "pipeline", "run", "training", tracking_uri=f"http://127.0.0.1:{port}"
    )
    assert code == 1
    assert err.startswith(f"error: MLflow tracking server http://127.0.0.1:{port} is unreachable")
    assert len(err.strip().splitlines()) == 1
    assert_nothing_registered(tmp_path)


def test_up_serves_a_registry_over_http_that_training_uses_the_same_way(tmp_path: Path) -> None:
    from kubeloop.registry.names import TAG_ARTIFACT_SHA256
    from kubeloop.training.config import TrainingConfig
    from kubeloop.training.outcome import run_in_process

    home = tmp_path / "home"
    started = kubeloop(home, "up", "--json")
    try:
        assert started.returncode == 0, started.stderr
        import json

        record = json.loads(started.stdout)
        assert record["url"].startswith("http://127.0.0.1:")
        assert httpx.get(f"{record['url']}/health", timeout=5).status_code == 200
        remote = Settings(home=home, tracking_uri=record["url"])
        outcome = run_in_process(
            TrainingConfig.from_params({"estimator": "random_forest", "hyperparams": {"n_estimators": 10}}),
            settings=remote,
        )
        assert outcome.version == "1"
        registry = MlflowRegistry.from_settings(remote)
        assert registry.resolve("models:/iris-classifier@champion").version == "1"
        path = registry.download_verified(name="iris-classifier", version="1", dst=tmp_path / "dl")
        assert (path / "MLmodel").is_file()
        assert len(registry.get_version("iris-classifier", "1").tags[TAG_ARTIFACT_SHA256]) == 64
        status = json.loads(kubeloop(home, "status", "--json").stdout)
        assert status["mlflow_server"]["running"] is True and status["mlflow_server"]["pid"] == record["pid"]
        assert status["models"][0]["aliases"] == {"champion": "1"}  # the same store, seen through SQLite
    finally:
        stopped = kubeloop(home, "down")
    assert stopped.returncode == 0 and "stopped the MLflow server" in stopped.stderr
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{record['url']}/health", timeout=2)
    assert "nothing to stop" in kubeloop(home, "down").stderr
