"""Warm task starts: kfp.local still runs every task through kfp's executor (artifacts, outputs, a
task's failure), each task forked from the run's warm interpreter, and a task that sets other
PYTHON* variables or a run with KUBELOOP_WARM_TASKS=0 gets a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from kubeloop.pipelines.local import LocalPipelineRunner
from kubeloop.pipelines.warm import WARM_ENV, start_warm
from kubeloop.pipelines.warm_launcher import SOCKET_ENV
from kubeloop.settings import Settings

pytestmark = [pytest.mark.slow]

FLOW = """
from kfp import dsl
from kfp.dsl import Dataset, Input, Output


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def write_rows(rows: int, table: Output[Dataset]) -> str:
    import os
    import sys
    from pathlib import Path

    Path(table.path).write_text("\\n".join(str(i) for i in range(rows)))
    return f"{os.environ.get('KUBELOOP_WARM_TASK', 'fresh')} {'pandas' in sys.modules}"


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def count_rows(table: Input[Dataset], before: str, out: str) -> None:
    import json
    import os
    import sys
    from pathlib import Path

    if out.endswith("boom.json"):
        raise ValueError("no place for the count")
    Path(out).write_text(json.dumps({
        "rows": len(Path(table.path).read_text().splitlines()),
        "before": before,
        "this": f"{os.environ.get('KUBELOOP_WARM_TASK', 'fresh')} {'pandas' in sys.modules}",
        "pid": os.getpid(),
    }))


@dsl.pipeline
def flow(rows: int, out: str, seeded_out: str) -> None:
    written = write_rows(rows=rows)
    count_rows(table=written.outputs["table"], before=written.outputs["Output"], out=out)
    fresh = count_rows(table=written.outputs["table"], before=written.outputs["Output"], out=seeded_out)
    fresh.set_env_variable(name="PYTHONHASHSEED", value="7")
"""


def _run(settings: Settings, tmp_path: Path, out: Path) -> tuple[str, str]:
    (tmp_path / "flow.py").write_text(textwrap.dedent(FLOW))
    runner = LocalPipelineRunner(settings=settings)
    run = runner.submit(
        f"{tmp_path / 'flow.py'}:flow", {"rows": 7, "out": str(out), "seeded_out": f"{out}.seeded"}
    )
    status = runner.wait(run, timeout=600)
    return status.state, status.message


def test_tasks_start_warm_through_kfps_executor_and_the_warm_interpreter_ends_with_the_run(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    out = tmp_path / "count.json"
    state, message = _run(settings, tmp_path, out)
    assert state == "succeeded", message
    warm = json.loads(out.read_text())
    assert (warm["rows"], warm["before"][:2], warm["this"][:2]) == (7, "1 ", "1 ")  # both forked
    assert _warm_folders_removed(tmp_path)  # the warm interpreter left with the run
    seeded = json.loads(Path(f"{out}.seeded").read_text())
    assert (seeded["rows"], seeded["this"]) == (7, "fresh False")


def test_a_failing_warm_task_fails_the_run_naming_its_error(settings: Settings, tmp_path: Path) -> None:
    state, message = _run(settings, tmp_path, tmp_path / "boom.json")
    assert (state, message) == ("failed", "task 'count-rows' failed: no place for the count")


def test_without_warm_tasks_every_task_starts_fresh(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WARM_ENV, "0")
    out = tmp_path / "count.json"
    state, message = _run(settings, tmp_path, out)
    assert state == "succeeded", message
    fresh = json.loads(out.read_text())
    assert (fresh["rows"], fresh["before"], fresh["this"]) == (7, "fresh False", "fresh False")


def test_a_refused_pre_flight_stops_the_warm_interpreter_and_leaves_no_run(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    (tmp_path / "flow.py").write_text(textwrap.dedent(FLOW))
    runner = LocalPipelineRunner(settings=settings)
    with pytest.raises(Exception, match="rows"):
        runner.submit(f"{tmp_path / 'flow.py'}:flow", {"rows": "many", "out": "x", "seeded_out": "y"})
    assert runner.runs() == [] and not list((settings.home / "pipelines").iterdir())
    assert _warm_folders_removed(tmp_path)  # released at once: the interpreter left without serving a task


def test_the_launcher_runs_anything_but_a_task_in_a_fresh_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    warm = start_warm(log=tmp_path / "warm.log", env=dict(os.environ))
    assert warm is not None
    try:
        launcher = warm.socket_path.with_name("python")
        env = {**os.environ, **warm.child_env()}
        done = subprocess.run(
            [str(launcher), "-c", "import os, sys; print(os.environ.get('KUBELOOP_WARM_TASK', 'fresh'))"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert done.stdout.strip() == "fresh"
        gone = {**env, SOCKET_ENV: str(tmp_path / "no.sock")}
        done = subprocess.run(
            [str(launcher), "-m", "kubeloop.pipelines.local", "--report", str(tmp_path / "nowhere")],
            env=gone,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 1 and "request.json" in done.stderr  # ran fresh, failed on its own
    finally:
        warm.release()
    assert _warm_folders_removed(tmp_path)


def _warm_folders_removed(scratch: Path, *, seconds: float = 60) -> bool:
    """Whether the warm interpreters' folders in `scratch` are gone within `seconds` (an interpreter
    leaves between two of its imports)."""
    deadline = time.monotonic() + seconds
    while list(scratch.glob("kubeloop-warm-*")) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not list(scratch.glob("kubeloop-warm-*"))
