"""The local PipelineRunner: each run is a child process driving kfp.local's SubprocessRunner.

A run lives in KUBELOOP_HOME/pipelines/<run id>/: `request.json` (pipeline and arguments),
`log.txt` (everything kfp.local and the tasks print), `status.json` (written when it ends),
`runner.json` (the runner's pid and start time, so a recycled pid never passes for a live run),
`outputs/` (kfp.local's pipeline root). A child process makes `submit` return at once and keeps
kfp.local's global configuration and console output out of the caller's process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubeloop.errors import KubeloopError, NotFoundError
from kubeloop.local.identity import ProcessIdentity, identify, running
from kubeloop.pipelines.base import MLFLOW_TRACKING_ENV, PIPELINE_RUN_ENV, PipelineRun, RunStatus
from kubeloop.pipelines.catalog import from_source, get_pipeline
from kubeloop.pipelines.warm import LOG_NAME as WARM_LOG
from kubeloop.pipelines.warm import WarmStart, start_warm, warm_tasks
from kubeloop.settings import HOME_ENV, TRACKING_ENV, Settings, load_settings

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_TASK_START = re.compile(r"Executing task '([\w-]+)'")
_TASK_FAILED = re.compile(r"Task '([\w-]+)' finished with status FAILURE")
REPORT_FLAG, REPORT_NAME = "--report", "report.json"
RUNNER_NAME = "runner.json"
REAP_TIMEOUT = 30.0  # seconds a run's child may take to exit after writing its status
_ERROR_LINE = re.compile(r"^\s*(?:[A-Za-z_][\w.]*\.)?([A-Za-z_]\w*(?:Error|Exception|Unavailable)): (.+)$")


class LocalPipelineRunner:
    """Runs kubeloop pipelines on this machine with kfp.local (no Docker, no cluster)."""

    def __init__(self, *, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.home / "pipelines"
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    def submit(self, pipeline: str, params: Mapping[str, Any]) -> PipelineRun:
        """Check the parameters (pre-flight), then start the run in a child process and return.

        `pipeline` is a built-in or project name, or a user's `file.py[:function]` / `pkg.mod:fn`.
        """
        definition = get_pipeline(pipeline)
        run_id = f"{definition.name}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
        run_dir = self.root / run_id
        run_dir.mkdir(parents=True)
        env = {
            **os.environ,
            HOME_ENV: str(self.settings.home),
            TRACKING_ENV: self.settings.tracking_uri,
            MLFLOW_TRACKING_ENV: self.settings.tracking_uri,
            PIPELINE_RUN_ENV: run_id,
        }
        warm = start_warm(log=run_dir / WARM_LOG, env=env)  # its imports overlap the pre-flight's
        try:
            arguments = definition.arguments(params, self.settings)
        except BaseException:
            if warm is not None:
                warm.release()
            shutil.rmtree(run_dir, ignore_errors=True)  # refused before it started: no run
            raise
        request = {
            "pipeline": pipeline,
            "source": definition.source.ref,
            "arguments": arguments,
            "submitted": time.time(),
        }
        (run_dir / "request.json").write_text(json.dumps(request, indent=2))
        self._start(run_dir, env=env, warm=warm)
        return PipelineRun(run_id=run_id, pipeline=pipeline, params=arguments)

    def _start(self, run_dir: Path, *, env: dict[str, str], warm: WarmStart | None) -> None:
        """Start the run's child process, handing it the warm interpreter."""
        try:
            with (run_dir / "log.txt").open("wb") as log:
                child = subprocess.Popen(
                    [sys.executable, "-m", "kubeloop.pipelines.local", str(run_dir)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env={**env, **(warm.child_env() if warm else {})},
                    pass_fds=(warm.keep_alive,) if warm else (),
                    start_new_session=True,  # a Ctrl-C in the CLI does not kill a run half-way through a task
                )
        finally:
            if warm is not None:
                warm.release()
        found = identify(child.pid) or ProcessIdentity(pid=child.pid, create_time=0.0)
        (run_dir / RUNNER_NAME).write_text(json.dumps({"pid": found.pid, "createTime": found.create_time}))
        self._children[run_dir.name] = child

    def status(self, run: PipelineRun) -> RunStatus:
        """Finished runs report their status file; live ones the task they are running."""
        run_dir = self.root / run.run_id
        if (run_dir / "status.json").is_file():
            self._reap(run.run_id)
            raw = json.loads((run_dir / "status.json").read_text())
            return RunStatus(
                state=raw["state"], message=raw.get("message", ""), outputs=raw.get("outputs", {})
            )
        if not run_dir.is_dir():
            raise NotFoundError(f"pipeline run {run.run_id!r} not found under {self.root}")
        if self._alive(run.run_id, run_dir):
            task = current_task(_read_log(run_dir))
            return RunStatus(state="running", message=f"running {task}" if task else "starting")
        return RunStatus(
            state="failed", message=f"the runner exited without a status; see {run_dir / 'log.txt'}"
        )

    def wait(
        self, run: PipelineRun, *, timeout: float, on_progress: Callable[[RunStatus], None] | None = None
    ) -> RunStatus:
        """Poll until the run finishes or `timeout` seconds pass; `on_progress` sees each new status."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            current = self.status(run)
            if on_progress is not None and current != last:
                on_progress(current)
            last = current
            if current.finished or time.monotonic() >= deadline:
                return current
            time.sleep(0.5)

    def runs(self) -> list[tuple[PipelineRun, RunStatus]]:
        """Every run recorded under KUBELOOP_HOME, newest first."""
        found = []
        for run_dir in sorted(self.root.glob("*/request.json"), reverse=True):
            request = json.loads(run_dir.read_text())
            run = PipelineRun(
                run_id=run_dir.parent.name, pipeline=request["pipeline"], params=request["arguments"]
            )
            found.append((run, self.status(run)))
        return found

    def log_path(self, run: PipelineRun) -> Path:
        """Where the run's full log is."""
        return self.root / run.run_id / "log.txt"

    def _reap(self, run_id: str) -> None:
        """Wait for the child of a run that wrote its status (it is exiting), so it leaves no zombie."""
        child = self._children.pop(run_id, None)
        if child is None:
            return
        try:
            child.wait(timeout=REAP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._children[run_id] = child  # still tearing down: reaped on a later look

    def _alive(self, run_id: str, run_dir: Path) -> bool:
        child = self._children.get(run_id)
        if child is not None:
            return child.poll() is None
        recorded = runner_identity(run_dir)
        return recorded is not None and running(recorded) is not None


def runner_identity(run_dir: Path) -> ProcessIdentity | None:
    """The run's runner process as recorded at its start (None without a readable record)."""
    try:
        raw = json.loads((run_dir / RUNNER_NAME).read_text())
        return ProcessIdentity(pid=int(raw["pid"]), create_time=float(raw["createTime"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no record (or a torn one): nothing of this run is known to be alive


def current_task(log: str) -> str | None:
    """The task kfp.local started last, from its log."""
    started = _TASK_START.findall(log)
    return started[-1] if started else None


def failure_message(log: str) -> str:
    """One line saying which task failed and why, from kfp.local's log and the task's traceback."""
    failed = _TASK_FAILED.findall(log)
    errors = [m for m in (_ERROR_LINE.match(line) for line in log.splitlines()) if m]
    where = f"task {failed[-1]!r} failed" if failed else "the pipeline failed"
    return f"{where}: {errors[-1].group(2).strip()}" if errors else where


def _read_log(run_dir: Path) -> str:
    try:
        return _ANSI.sub("", (run_dir / "log.txt").read_text(errors="replace"))
    except OSError:
        return ""


def _execute(run_dir: Path) -> dict[str, Any]:
    """Run the requested pipeline with kfp.local in this process; return the status to record.

    Tasks start warm (`kubeloop.pipelines.warm`), and so does the report, which needs MLflow: a
    task-like process forked from the warm interpreter instead of importing MLflow here.
    """
    with warm_tasks():
        import kfp.local

        request = json.loads((run_dir / "request.json").read_text())
        definition = from_source(request["source"])
        kfp.local.init(
            runner=kfp.local.SubprocessRunner(use_venv=False),
            pipeline_root=str(run_dir / "outputs"),
            raise_on_error=True,
        )
        try:
            definition.load()(**request["arguments"])
        except RuntimeError:
            sys.stdout.flush()
            return {"state": "failed", "message": failure_message(_read_log(run_dir))}
        return {"state": "succeeded", "message": "", "outputs": _report(run_dir)}


def _report(run_dir: Path) -> dict[str, Any]:
    """What the finished run decided, from `python -m kubeloop.pipelines.local --report <run dir>`."""
    done = subprocess.run(
        [sys.executable, "-m", "kubeloop.pipelines.local", REPORT_FLAG, str(run_dir)],
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        raise KubeloopError(f"reading the run's outcome failed (exit {done.returncode}); see its log")
    return dict(json.loads((run_dir / REPORT_NAME).read_text()))


def write_report(run_dir: Path) -> None:
    """Read the run's outcome back (from MLflow for kubeloop's components) into its report file."""
    request = json.loads((run_dir / "request.json").read_text())
    outputs = from_source(request["source"]).report(run_dir.name, load_settings())
    (run_dir / REPORT_NAME).write_text(json.dumps(outputs, default=str))


def main(argv: list[str]) -> int:
    """Child-process entry point: `python -m kubeloop.pipelines.local [--report] <run dir>`."""
    if argv[0] == REPORT_FLAG:
        write_report(Path(argv[1]))
        return 0
    run_dir = Path(argv[0])
    try:
        status = _execute(run_dir)
    except Exception as error:  # noqa: BLE001 - whatever happens, the parent must get a status
        status = {"state": "failed", "message": f"{type(error).__name__}: {error}"}
    scratch = run_dir / "status.json.tmp"
    scratch.write_text(json.dumps(status, indent=2, default=str))
    scratch.replace(run_dir / "status.json")
    return 0 if status["state"] == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
