"""The local runner's pure parts (log parsing, catalog, pre-flight) and the pipeline's compiled IR."""

from __future__ import annotations

import json
from pathlib import Path

import psutil
import pytest
import yaml

import kubeloop.pipelines as pipelines
from kubeloop.errors import BackendUnavailable, NotFoundError
from kubeloop.pipelines.catalog import get_pipeline
from kubeloop.pipelines.local import LocalPipelineRunner, current_task, failure_message
from kubeloop.settings import Settings
from kubeloop.training.config import ConfigError
from kubeloop.training.data import DataError
from kubeloop.training.validation import DataValidationError

LOG = """\
03:49:39.891 - INFO - Executing task 'load-data'
03:49:46.015 - INFO - Task 'load-data' finished with status SUCCESS
03:49:46.016 - INFO - Executing task 'validate-data'
    Traceback (most recent call last):
      File "steps.py", line 60, in validate_step
    kubeloop.training.validation.DataValidationError: column 'x1' (feature): 2 missing values (first at row 3)
03:49:53.678 - ERROR - Task 'validate-data' finished with status FAILURE
"""


def test_failure_message_names_the_task_and_the_error() -> None:
    assert failure_message(LOG) == (
        "task 'validate-data' failed: column 'x1' (feature): 2 missing values (first at row 3)"
    )
    assert failure_message("nothing useful") == "the pipeline failed"
    assert current_task(LOG) == "validate-data"
    assert current_task("") is None


def test_unknown_pipeline_lists_the_known_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no project kubeloop.yaml here or above
    with pytest.raises(NotFoundError, match="unknown pipeline 'deploy'; known: training"):
        get_pipeline("deploy")
    assert [name for name, _ in pipelines.list_pipelines()] == ["training"]


def test_compile_writes_the_builtin_as_the_reusable_components_with_register_under_the_gate(
    tmp_path: Path,
) -> None:
    path = pipelines.compile("training", tmp_path / "out" / "training.yaml")
    spec = yaml.safe_load(path.read_text())
    assert spec["pipelineInfo"]["name"] == "training"
    root = spec["root"]["dag"]["tasks"]
    assert set(root) == {
        "load-table",
        "validate-table",
        "train-sklearn",
        "evaluate-model",
        "quality-gate",
        "condition-1",
    }
    assert root["condition-1"]["taskInfo"]["name"] == "passed"
    gate = root["condition-1"]["triggerPolicy"]["condition"]
    assert "quality-gate-Output" in gate and "true" in gate
    assert "register-model" in spec["components"]["comp-condition-1"]["dag"]["tasks"]
    # The registry and the run's label reach the tasks through their environment, not parameters.
    assert "tracking_uri" not in spec["root"]["inputDefinitions"]["parameters"]


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        ({"data": "missing.csv"}, DataError, "data: file not found"),
        ({"target": "label"}, DataValidationError, "target column 'label' not found"),
        ({"estimator": "svm"}, ConfigError, "estimator: unknown 'svm'"),
    ],
)
def test_bad_input_is_refused_before_a_run_starts(
    settings: Settings, params: dict[str, str], error: type[Exception], message: str
) -> None:
    runner = LocalPipelineRunner(settings=settings)
    with pytest.raises(error, match=message):
        runner.submit("training", params)
    assert runner.runs() == []


def test_an_unreachable_tracking_server_is_refused_before_a_run_starts(
    settings: Settings, unused_port: int
) -> None:
    from dataclasses import replace

    remote = replace(settings, tracking_uri=f"http://127.0.0.1:{unused_port}")
    runner = LocalPipelineRunner(settings=remote)
    with pytest.raises(BackendUnavailable, match="is unreachable"):
        runner.submit("training", {})
    assert runner.runs() == []


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _recorded_run(root: Path, *, pid: int, create_time: float) -> pipelines.PipelineRun:
    """A run directory as `submit` leaves it, with no status yet and the runner recorded as given."""
    run_dir = root / "pipelines" / "training-recorded"
    run_dir.mkdir(parents=True)
    (run_dir / "log.txt").write_text("03:49:39.891 - INFO - Executing task 'load-data'\n")
    (run_dir / "runner.json").write_text(json.dumps({"pid": pid, "createTime": create_time}))
    return pipelines.PipelineRun(run_id="training-recorded", pipeline="training", params={})


def test_a_run_is_running_only_while_its_recorded_runner_is(tmp_path: Path) -> None:
    runner = LocalPipelineRunner(settings=Settings(home=tmp_path, tracking_uri="sqlite:///unused.db"))
    me = psutil.Process()
    run = _recorded_run(tmp_path, pid=me.pid, create_time=me.create_time())
    assert runner.status(run).state == "running"
    assert runner.status(run).message == "running load-data"


def test_a_recycled_pid_does_not_pass_for_the_runner(tmp_path: Path) -> None:
    """This process holds the recorded pid, but started later than the recorded runner: not the run."""
    runner = LocalPipelineRunner(settings=Settings(home=tmp_path, tracking_uri="sqlite:///unused.db"))
    me = psutil.Process()
    run = _recorded_run(tmp_path, pid=me.pid, create_time=me.create_time() - 3600)
    status = runner.status(run)
    assert status.state == "failed"
    assert "exited without a status" in status.message
