"""The examples a user starts from, run the way the README shows: the LightGBM pipeline by its name in
the examples' kubeloop.yaml, and the notebook-style script that adopts its model with `models register`.
(Serving LightGBM is the serving side's; here the pipeline's part ends at the registered version.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kubeloop.registry.mlflow_registry import MlflowRegistry
from kubeloop.registry.names import (
    REFERENCE_PROFILE_PATH,
    REFERENCE_SAMPLE_PATH,
    TAG_ARTIFACT_SHA256,
    TAG_DATA_DIGEST,
    TAG_FLAVOR,
    TAG_REFERENCE_SOURCE,
    TAG_SOURCE_RUN,
    TAG_SOURCE_URI,
)
from kubeloop.settings import Settings, load_settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(home: Path, *args: str, cwd: Path = EXAMPLES) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBELOOP_TRACKING_URI", "MLFLOW_TRACKING_URI")}
    env["KUBELOOP_HOME"] = str(home)
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def artifacts(settings: Settings, run_id: str) -> set[str]:
    from kubeloop.training.tracking import tracking_client

    return {a.path for a in tracking_client(settings.tracking_uri).list_artifacts(run_id, "reference")}


def test_the_lightgbm_pipeline_runs_by_its_project_name_and_registers_with_digest_and_reference(
    tmp_path: Path,
) -> None:
    listed = json.loads(run(tmp_path, sys.executable, "-m", "kubeloop", "pipeline", "list", "--json").stdout)
    assert [p["name"] for p in listed["pipelines"]] == ["training", "wine-lightgbm"]
    outcome = json.loads(
        run(tmp_path, sys.executable, "-m", "kubeloop", "pipeline", "run", "wine-lightgbm", "--json").stdout
    )
    assert outcome["passed"] is True and outcome["model"] == "wine" and outcome["version"] == "1", outcome
    settings = load_settings({"KUBELOOP_HOME": str(tmp_path)})
    registry = MlflowRegistry(tracking_uri=settings.tracking_uri)
    version = registry.get_version("wine", "1")
    assert version.aliases == ("champion",) and version.tags[TAG_FLAVOR] == "lightgbm"
    assert len(version.tags[TAG_ARTIFACT_SHA256]) == 64 and len(version.tags[TAG_DATA_DIGEST]) == 64
    registry.download_verified(name="wine", version="1")
    assert version.run_id and {REFERENCE_SAMPLE_PATH, REFERENCE_PROFILE_PATH} <= artifacts(
        settings, version.run_id
    )


def test_the_notebook_script_logs_a_model_and_adopts_it(tmp_path: Path) -> None:
    said = run(tmp_path, sys.executable, str(EXAMPLES / "notebook_adopt.py"), "--name", "breast-cancer")
    assert "registered breast-cancer version 1 as champion (sklearn" in said.stderr, said.stderr
    settings = load_settings({"KUBELOOP_HOME": str(tmp_path)})
    version = MlflowRegistry(tracking_uri=settings.tracking_uri).get_version("breast-cancer", "1")
    assert version.tags[TAG_SOURCE_URI] == f"runs:/{version.tags[TAG_SOURCE_RUN]}/model"
    assert version.tags[TAG_REFERENCE_SOURCE].endswith("train.parquet (426 rows)")
    assert version.run_id == version.tags[TAG_SOURCE_RUN]
    assert {REFERENCE_SAMPLE_PATH, REFERENCE_PROFILE_PATH} <= artifacts(settings, version.run_id)
