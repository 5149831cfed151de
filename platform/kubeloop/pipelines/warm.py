"""Warm task starts for kfp.local: one interpreter imports what kubeloop's components use, once per run,
and forks each task from there instead of a fresh interpreter importing it all again.

kfp.local's SubprocessRunner starts every task as `<sys.executable> -m kfp.dsl.executor_main ...`:
kfp's own executor reads the task's inputs and writes its outputs and artifacts, as it does on a
cluster. Inside `warm_tasks()`, sys.executable is a launcher (`warm_launcher.py`) that sends that
command's arguments, environment, folder and standard streams to the warm interpreter
(`warm_server.py`) over a Unix socket in a folder only this user can open. The interpreter forks a
watcher per task; the watcher forks the task, reports its exit status to the launcher, and kills it
if the launcher goes away. The task takes the launcher's streams, environment and folder and runs
the module as `python -m` does; it ends without the interpreter's teardown once every exit handler
has run (as `end_without_teardown` does).

The runner starts the warm interpreter (`start_warm`) before its pre-flight, so the imports overlap
the pre-flight's own; it preloads PRELOAD one module at a time and starts waiting tasks between two,
so the first tasks (pandas only) do not wait for MLflow and scikit-learn. A forked task differs from
a fresh one only in what is already imported: numpy's global generator is reseeded (Python's
`random` reseeds itself after a fork). `KUBELOOP_WARM_TASKS=0` starts every task in a fresh
interpreter, as kfp.local alone does; so does the launcher whenever the warm interpreter is not
there or refuses the task. Why: MLflow, its SQLAlchemy store, scikit-learn and skops cost 2-5 s of
imports in each task (bench/bench_training.py).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from kubeloop.pipelines.warm_launcher import SOCKET_ENV

WARM_ENV = "KUBELOOP_WARM_TASKS"  # "0": a fresh interpreter for every task
CONTROL_ENV = "KUBELOOP_WARM_CONTROL"  # the run's end of the pipe that keeps the warm interpreter up
LOG_NAME = "warm-starter.log"
_LAUNCHER = "python"


@dataclass(frozen=True)
class WarmStart:
    """A warm interpreter being started for one run, and the pipe end that keeps it serving."""

    process: subprocess.Popen[bytes]
    socket_path: Path
    keep_alive: int

    def child_env(self) -> dict[str, str]:
        """What the run's process needs in its environment to start its tasks warm."""
        return {SOCKET_ENV: str(self.socket_path), CONTROL_ENV: str(self.keep_alive)}

    def release(self) -> None:
        """Drop this process's hold: the warm interpreter serves while the run's process holds its copy
        (or ends now, when the pre-flight failed and no run started)."""
        os.close(self.keep_alive)
        self.process.wait()  # the starter detaches once the socket is bound: a short wait


def start_warm(*, log: Path, env: Mapping[str, str]) -> WarmStart | None:
    """Start a run's warm interpreter (None when `KUBELOOP_WARM_TASKS=0`); pass `keep_alive` to the run."""
    if env.get(WARM_ENV, "1") == "0":
        return None
    folder = Path(tempfile.mkdtemp(prefix="kubeloop-warm-"))  # mode 0700; the interpreter removes it
    _write_launcher(folder, python=sys.executable)
    control, keep_alive = os.pipe()
    socket_path = folder / "tasks.sock"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "kubeloop.pipelines.warm_server", str(socket_path), str(control)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            pass_fds=(control,),
            env={**env, "_KFP_RUNTIME": "true"},  # as in a task: kfp.dsl imports less
            start_new_session=True,  # a Ctrl-C in the CLI does not end the run's tasks
        )
    os.close(control)
    return WarmStart(process=process, socket_path=socket_path, keep_alive=keep_alive)


@contextlib.contextmanager
def warm_tasks() -> Iterator[None]:
    """In the run's process: while inside, tasks kfp.local starts with sys.executable start warm."""
    socket_path = os.environ.get(SOCKET_ENV, "")
    if not socket_path:
        yield
        return
    python, sys.executable = sys.executable, str(Path(socket_path).with_name(_LAUNCHER))
    try:
        yield
    finally:
        sys.executable = python
        with contextlib.suppress(KeyError, ValueError, OSError):
            os.close(int(os.environ.pop(CONTROL_ENV)))  # the warm interpreter ends with the run


def _write_launcher(folder: Path, *, python: str) -> Path:
    launcher = folder / _LAUNCHER
    script = Path(__file__).with_name("warm_launcher.py")
    quoted = " ".join(shlex.quote(part) for part in (python, "-S", str(script), python))
    launcher.write_text(f'#!/bin/sh\nexec {quoted} "$@"\n')
    launcher.chmod(0o700)
    return launcher
