"""Training end to end: the real pipeline through kfp.local into a real MLflow SQLite registry.

Given a fresh KUBELOOP_HOME, the module runs the training pipeline three times like a user would:
the defaults through the Python API (version 1, champion), gradient boosting through the API
(version 2, challenger), then a run through the CLI whose model the gate refuses (nothing registered).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import kubeloop.pipelines as pipelines
from kubeloop.pipelines.base import RunStatus
from kubeloop.registry.digest import tree_sha256
from kubeloop.registry.mlflow_registry import MlflowRegistry
from kubeloop.registry.names import (
    REFERENCE_SAMPLE_PATH,
    TAG_ARTIFACT_SHA256,
    TAG_DATA_DIGEST,
    TAG_ESTIMATOR,
    TAG_GATE_METRIC,
    TAG_GATE_REASON,
    TAG_GATE_VALUE,
    TAG_GATE_VERDICT,
    TAG_TARGET,
    TAG_TASK,
)
from kubeloop.settings import Settings, load_settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
MODEL = "iris-classifier"


@dataclass(frozen=True)
class Trained:
    settings: Settings
    first: RunStatus
    second: RunStatus
    refused: subprocess.CompletedProcess[str]


def kubeloop(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the kubeloop CLI as a user would, against this home."""
    env = {**os.environ, "KUBELOOP_HOME": str(settings.home)}
    env.pop("KUBELOOP_TRACKING_URI", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run(
        [sys.executable, "-m", "kubeloop", *args], env=env, capture_output=True, text=True, timeout=900
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    settings = load_settings({"KUBELOOP_HOME": str(tmp_path_factory.mktemp("training-home"))}).ensure_dirs()
    first = pipelines.run("training", {}, settings=settings, timeout=900)
    second = pipelines.run(
        "training",
        # The logistic champion scores the iris holdout perfectly: the challenger may be slightly worse.
        {"estimator": "gradient_boosting", "hyperparams": {"n_estimators": 50}, "gate_min_improvement": -0.1},
        settings=settings,
        timeout=900,
    )
    refused = kubeloop(settings, "pipeline", "run", "training", "-p", "gate_min_improvement=0.5")
    yield Trained(settings, first, second, refused)


def test_first_run_registers_version_1_as_champion(trained: Trained) -> None:
    assert trained.first.state == "succeeded", trained.first.message
    assert trained.first.outputs["version"] == "1" and trained.first.outputs["passed"] is True
    assert "no champion to compare" in trained.first.outputs["reason"]
    assert MlflowRegistry.from_settings(trained.settings).resolve(f"models:/{MODEL}@champion").version == "1"


def test_a_better_configuration_registers_version_2_as_challenger(trained: Trained) -> None:
    assert trained.second.state == "succeeded", trained.second.message
    outputs: dict[str, Any] = dict(trained.second.outputs)
    assert outputs["version"] == "2" and "improves on champion" in outputs["reason"]
    registry = MlflowRegistry.from_settings(trained.settings)
    assert registry.get_model(MODEL).aliases == {"champion": "1", "challenger": "2"}


def test_a_refused_model_registers_nothing_and_says_why(trained: Trained) -> None:
    assert trained.refused.returncode == 0, trained.refused.stderr
    assert "not registered" in trained.refused.stderr
    assert "is below the required +0.5000" in trained.refused.stderr
    registry = MlflowRegistry.from_settings(trained.settings)
    assert [v.version for v in registry.list_versions(MODEL)] == ["2", "1"]


def test_versions_carry_the_tags_signature_and_a_matching_sha256(trained: Trained, tmp_path: Path) -> None:
    import mlflow.pyfunc

    registry = MlflowRegistry.from_settings(trained.settings)
    for version in ("1", "2"):
        found = registry.get_version(MODEL, version)
        tags = found.tags
        assert tags[TAG_GATE_VERDICT] == "passed" and tags[TAG_GATE_METRIC] == "f1"
        assert float(tags[TAG_GATE_VALUE]) > 0.7 and tags[TAG_GATE_REASON]
        assert tags[TAG_TASK] == "multiclass" and tags[TAG_TARGET] == "target"
        assert len(tags[TAG_DATA_DIGEST]) == 64
        path = registry.download_verified(name=MODEL, version=version, dst=tmp_path / version)
        assert tree_sha256(path) == tags[TAG_ARTIFACT_SHA256]
        model = mlflow.pyfunc.load_model(str(path))
        assert model.metadata.signature is not None
    assert registry.get_version(MODEL, "2").tags[TAG_ESTIMATOR] == "gradient_boosting"
    assert (
        registry.get_version(MODEL, "1").tags[TAG_DATA_DIGEST]
        == registry.get_version(MODEL, "2").tags[TAG_DATA_DIGEST]
    )


def test_the_run_logged_params_metrics_and_the_reference_sample(trained: Trained) -> None:
    from kubeloop.training.tracking import tracking_client

    client = tracking_client(trained.settings.tracking_uri)
    run = client.get_run(str(trained.second.outputs["mlflow_run_id"]))
    assert run.data.params["estimator"] == "gradient_boosting"
    assert {"accuracy", "f1", "roc_auc", "champion_f1"} <= set(run.data.metrics)
    assert run.info.status == "FINISHED"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "reference")}
    assert REFERENCE_SAMPLE_PATH in artifacts  # the drift module adds its reference profile beside it
    assert run.info.artifact_uri.startswith(trained.settings.artifacts_dir.as_uri())


def cli_json(
    settings: Settings, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str
) -> Any:
    """Run a CLI command in this process against the module's home and decode its JSON output."""
    from kubeloop.cli import main

    monkeypatch.setenv("KUBELOOP_HOME", str(settings.home))
    monkeypatch.delenv("KUBELOOP_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    capfd.readouterr()
    main([*args, "--json"])
    return json.loads(capfd.readouterr().out)


def test_cli_lists_models_runs_and_status(
    trained: Trained, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    shown = cli_json(trained.settings, capfd, monkeypatch, "models", "show", MODEL)
    assert [v["version"] for v in shown["versions"]] == ["2", "1"]
    assert shown["versions"][0]["aliases"] == ["challenger"]
    status = cli_json(trained.settings, capfd, monkeypatch, "status")
    assert status["tracking_uri"] == trained.settings.tracking_uri
    assert status["models"] == [
        {"name": MODEL, "aliases": {"champion": "1", "challenger": "2"}, "latest_version": "2"}
    ]
    runs = cli_json(trained.settings, capfd, monkeypatch, "pipeline", "list")["runs"]
    assert [r["state"] for r in runs] == ["succeeded"] * 3
    assert runs[0]["summary"].startswith("not registered")
