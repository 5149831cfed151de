"""Drift checks end to end: a real MLflow registry, real prediction logs and the `kubeloop` CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from kubeloop.drift.job import run_drift_job
from kubeloop.drift.local import local_job
from kubeloop.drift.state import DriftState, TrailEntry, load_state, save_state, state_path
from kubeloop.drift.store import log_reference_profile
from kubeloop.predlog import LogStore, PredictionRecord
from kubeloop.registry.names import CHAMPION, REFERENCE_SAMPLE_PATH
from kubeloop.settings import HOME_ENV, PUSHGATEWAY_ENV, TRACKING_ENV, Settings, load_settings
from kubeloop.spec import parse_deployment

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
HOUR = 3600.0


@dataclass(frozen=True)
class Home:
    settings: Settings
    env: dict[str, str]


def inputs(rng: np.random.Generator, rows: int, shift: float = 0.0) -> pd.DataFrame:
    means = np.array([5.8, 3.0, 3.8, 1.2]) + shift
    return pd.DataFrame(rng.normal(means, [0.8, 0.4, 1.7, 0.7], (rows, 4)), columns=list(FEATURES))


def classify(frame: pd.DataFrame) -> np.ndarray:
    return np.digitize(frame["petal_length"].to_numpy(), [2.5, 5.0])


def register(settings: Settings, model: str, *, with_reference: bool) -> str:
    """A real MLflow run and model version; with its reference sample and profile when asked."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    experiment = client.get_experiment_by_name("drift-e2e") or client.get_experiment(
        client.create_experiment("drift-e2e", artifact_location=settings.artifacts_dir.as_uri())
    )
    run_id = client.create_run(experiment.experiment_id).info.run_id
    if with_reference:
        sample = inputs(np.random.default_rng(0), 1000)
        path = settings.home / "sample.parquet"
        sample.to_parquet(path, index=False)
        client.log_artifact(run_id, str(path), artifact_path=REFERENCE_SAMPLE_PATH.rpartition("/")[0])
        log_reference_profile(
            tracking_uri=settings.tracking_uri, run_id=run_id, features=sample, predictions=classify(sample)
        )
    client.set_terminated(run_id)
    if not client.search_registered_models(filter_string=f"name = '{model}'"):
        client.create_registered_model(model)
    version = client.create_model_version(model, source=f"runs:/{run_id}/model", run_id=run_id).version
    client.set_registered_model_alias(model, CHAMPION, str(version))
    return str(version)


def write_logs(
    settings: Settings, deployment: str, version: str, *, start: float, rows: int, shift: float, seed: int
) -> None:
    """Prediction records spread over 54 minutes after `start`, as the model servers log them."""
    frame = inputs(np.random.default_rng(seed), rows, shift)
    labels = classify(frame)
    store = LogStore(settings.logs_dir)
    records = [
        PredictionRecord(
            request_id=f"{seed}-{i}",
            timestamp=start + i * 0.9 * HOUR / rows,
            deployment=deployment,
            model=deployment,
            version=version,
            role="champion",
            inputs=[frame.iloc[i].to_dict()],
            outputs=[int(labels[i])],
        )
        for i in range(rows)
    ]
    store.write(records)
    store.close()


def deployment_file(home: Path, name: str, **drift: object) -> Path:
    manifest = {
        "apiVersion": "kubeloop.io/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name},
        "spec": {"model": {"name": name}, "drift": {"minRows": 300, "window": "1h", **drift}},
    }
    path = home / f"{name}.yaml"
    path.write_text(yaml.safe_dump(manifest))
    return path


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    root = tmp_path_factory.mktemp("drift-e2e") / "home"
    with socket.socket() as probe:  # a port nothing listens on: the Pushgateway is unreachable
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    env = {**os.environ, HOME_ENV: str(root), PUSHGATEWAY_ENV: f"http://127.0.0.1:{dead}"}
    env.pop(TRACKING_ENV, None)
    env.pop("MLFLOW_TRACKING_URI", None)
    settings = load_settings(env).ensure_dirs()
    register(settings, "iris", with_reference=True)
    register(settings, "legacy", with_reference=False)
    return Home(settings=settings, env=env)


def kubeloop(home: Home, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubeloop", *args],
        env=home.env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_cli_check_finds_the_shift_and_stores_the_report_in_mlflow(home: Home) -> None:
    from mlflow.artifacts import download_artifacts

    now = time.time()
    write_logs(home.settings, "iris", "1", start=now - 0.95 * HOUR, rows=800, shift=0.6, seed=1)

    done = kubeloop(
        home,
        "drift",
        "check",
        "iris",
        "-f",
        str(deployment_file(home.settings.home, "iris")),
        "--window",
        "1h",
        "--no-retrain",
    )

    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "iris: iris v1, window 1h, 800 rows vs 1,000 reference rows" in out
    assert "DRIFT: 4 of 4 features drifted" in out
    assert "(prediction)" in out
    assert "Pushgateway http://127.0.0.1:" in out and "unreachable" in out
    report = next(line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("report: "))
    folder = Path(download_artifacts(artifact_uri=report, tracking_uri=home.settings.tracking_uri))
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "drift" and summary["rows"] == 800
    assert summary["prediction"]["drifted"] is True
    assert 'id="kubeloop-banner"' in (folder / "report.html").read_text()


def test_cli_check_of_a_version_without_reference_says_so(home: Home) -> None:
    write_logs(home.settings, "legacy", "1", start=time.time() - 0.95 * HOUR, rows=400, shift=0.0, seed=2)

    done = kubeloop(
        home, "drift", "check", "legacy", "-f", str(deployment_file(home.settings.home, "legacy")), "--json"
    )

    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert outcome["result"]["status"] == "no_reference"
    assert "registered before drift references were logged" in outcome["result"]["reason"]
    assert outcome["decision"]["fire"] is False


def test_cli_refuses_a_bad_window(home: Home) -> None:
    done = kubeloop(home, "drift", "check", "iris", "--window", "soon")

    assert done.returncode == 2
    assert "expected a duration" in done.stderr


def test_stable_traffic_never_retrains_and_cooldown_holds(home: Home) -> None:
    settings = home.settings
    spec = parse_deployment(
        yaml.safe_load(
            deployment_file(settings.home, "iris", cooldown="6h", consecutiveWindows=2).read_text()
        )
    )
    start = time.time() - 40 * HOUR
    for hour in range(8):  # eight hours of traffic like the training data
        write_logs(settings, "iris", "1", start=start + hour * HOUR, rows=400, shift=0.0, seed=100 + hour)
    job = local_job(settings, html_reports=False)

    stable = [run_drift_job(job, deployment=spec, now=start + (h + 1) * HOUR) for h in range(8)]

    assert [o.result.status for o in stable] == ["no_drift"] * 8
    assert not any(o.decision.fire for o in stable)

    # A retrain just happened; drifted traffic during the cooldown starts nothing.
    path = state_path(settings.state_dir, "iris")
    retrained = start + 9 * HOUR
    save_state(
        path,
        load_state(path).with_trail(
            TrailEntry(
                at=retrained,
                source_version="1",
                report="",
                reason="test",
                pipeline="training",
                run_id="earlier",
            ),
            retrain=True,
        ),
    )
    for hour in range(9, 13):
        write_logs(settings, "iris", "1", start=start + hour * HOUR, rows=400, shift=0.6, seed=200 + hour)
    cooling = [run_drift_job(job, deployment=spec, now=start + (h + 1) * HOUR) for h in range(9, 13)]

    assert [o.result.status for o in cooling] == ["drift"] * 4
    assert all("cooldown" in o.decision.reason for o in cooling)
    state: DriftState = load_state(path)
    assert [t.run_id for t in state.trail] == ["earlier"]
