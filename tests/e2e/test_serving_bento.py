"""The BentoML runtime builds as a Bento from serving/bentoml_runtime/bentofile.yaml and the project wheel."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def test_bentofile_builds_a_bento(tmp_path: Path) -> None:
    context = tmp_path / "context"
    (context / "wheels").mkdir(parents=True)
    shutil.copy(ROOT / "serving" / "bentoml_runtime" / "bentofile.yaml", context)
    wheel = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(context / "wheels"),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert wheel.returncode == 0, wheel.stderr
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "bentoml")}
    built = subprocess.run(
        [sys.executable, "-m", "bentoml", "build", str(context), "--output", "tag"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=context,
    )
    assert built.returncode == 0, built.stderr
    tag = built.stdout.strip().splitlines()[-1].removeprefix("__tag__:")
    name, version = tag.split(":")
    assert name == "kubeloop-model"
    bento = tmp_path / "bentoml" / "bentos" / name / version
    manifest = yaml.safe_load((bento / "bento.yaml").read_text())
    assert manifest["service"] == "kubeloop.serving.bentoml_runtime.service:KubeloopService"
    assert {e["name"] for e in manifest["envs"]} >= {"KUBELOOP_SERVE_MODEL", "KUBELOOP_TRACKING_URI"}
    assert list((bento / "env" / "python" / "wheels").glob("kubeloop-*.whl"))
