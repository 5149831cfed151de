"""The local runner on a project pipeline, the way a drift retrain submits `drift.pipeline` by name: the
catalog resolves it, the child runs the user's file with kfp.local, tasks see the run's label."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from kubeloop.pipelines.local import LocalPipelineRunner
from kubeloop.settings import Settings

pytestmark = [pytest.mark.slow]

FLOW = """
from kfp import dsl


@dsl.component(base_image="registry.example/acme/job:1", install_kfp_package=False)
def note(path: str, rows: int) -> None:
    import os
    from pathlib import Path

    Path(path).write_text(f"{os.environ['KUBELOOP_PIPELINE_RUN']} {rows}")


@dsl.pipeline
def retrain(path: str, rows: int = 1) -> None:
    note(path=path, rows=rows)
"""


def test_a_project_pipeline_named_like_drift_pipeline_runs_the_users_file(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    (project / "flows").mkdir(parents=True)
    (project / "flows" / "retrain.py").write_text(textwrap.dedent(FLOW))
    (project / "kubeloop.yaml").write_text(
        "pipelines:\n  nightly:\n    source: flows/retrain.py:retrain\n    params: {rows: 5}\n"
    )
    monkeypatch.chdir(project)
    runner = LocalPipelineRunner(settings=settings)
    marker = tmp_path / "ran.txt"
    run = runner.submit("nightly", {"path": str(marker)})
    status = runner.wait(run, timeout=600)
    assert status.state == "succeeded", status.message
    assert status.outputs == {}  # no gate ran in this pipeline: nothing to report
    assert marker.read_text() == f"{run.run_id} 5"  # the project's default, the run's own label
    request = json.loads((settings.home / "pipelines" / run.run_id / "request.json").read_text())
    assert (
        request["source"] == f"{project / 'flows' / 'retrain.py'}:retrain"
        and request["pipeline"] == "nightly"
    )
    assert [r.run_id for r, _ in runner.runs()] == [run.run_id]
