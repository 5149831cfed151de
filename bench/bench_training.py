"""Benchmark: the training pipeline through kfp.local against the same six steps in plain Python.

Both sides train the same model on the same data into one MLflow SQLite registry (created by a
shared warm-up, like a user's second run). The pipeline side pays for one process per task
(kfp.local's SubprocessRunner), artifact passing through files and the runner's child process; the
plain side runs the steps in this already-warm process. Reported: the per-task overhead
((pipeline - plain) / tasks) beside the plain time, then per task its wall time in the pipeline,
the same step in plain Python, and the seconds its process spent importing (a separate run with
PYTHONPROFILEIMPORTTIME, whose own printing is not in the timed runs).

Run: `python bench/bench_training.py [--repeat N]`.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from kubeloop.settings import load_settings

PARAMS = {"estimator": "random_forest", "hyperparams": {"n_estimators": 50}}
TASKS = ("load-table", "validate-table", "train-sklearn", "evaluate-model", "quality-gate", "register-model")
_STAMP = r"(\d\d):(\d\d):(\d\d\.\d+) - \w+ - "
_START = re.compile(_STAMP + r"Executing task '([\w-]+)'")
_END = re.compile(_STAMP + r"Task '([\w-]+)' finished")
_IMPORT = re.compile(r"^\s*import time:\s+\d+ \|\s+(\d+) \| (\S.*)$")  # top level: no indent before name
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def time_pipeline(home: Path, env: dict[str, str] | None = None) -> tuple[float, Path]:
    """Seconds for one training pipeline run through the local kfp.local runner, and its log."""
    import os

    import kubeloop.pipelines as pipelines

    settings = load_settings({"KUBELOOP_HOME": str(home)}).ensure_dirs()
    saved = {key: os.environ.get(key) for key in env or {}}
    os.environ.update(env or {})
    try:
        started = time.perf_counter()
        status = pipelines.run("training", PARAMS, settings=settings, timeout=900)
        elapsed = time.perf_counter() - started
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    if status.state != "succeeded":
        raise SystemExit(f"pipeline run failed: {status.message}")
    return elapsed, home / "pipelines" / str(status.outputs["pipeline_run"]) / "log.txt"


def time_plain(home: Path) -> tuple[float, dict[str, float]]:
    """Seconds for the same steps called in this process, and per step."""
    from kubeloop.training.config import TrainingConfig
    from kubeloop.training.outcome import run_in_process

    settings = load_settings({"KUBELOOP_HOME": str(home)}).ensure_dirs()
    per_step: dict[str, float] = {}
    started = time.perf_counter()
    run_in_process(TrainingConfig.from_params(PARAMS), settings=settings, on_step=per_step.__setitem__)
    return time.perf_counter() - started, per_step


def task_seconds(log: Path) -> dict[str, float]:
    """Each task's wall time in the run, from kfp.local's timestamps."""
    starts, seconds = {}, {}
    for line in _ANSI.sub("", log.read_text(errors="replace")).splitlines():
        if match := _START.search(line):
            starts[match.group(4)] = _seconds(match)
        elif (match := _END.search(line)) and match.group(4) in starts:
            seconds[match.group(4)] = (_seconds(match) - starts[match.group(4)]) % 86400  # past midnight
    return seconds


def import_seconds(log: Path) -> dict[str, float]:
    """Seconds each task's process spent importing, from PYTHONPROFILEIMPORTTIME's top-level lines."""
    spent: dict[str, float] = defaultdict(float)
    task = None
    for line in _ANSI.sub("", log.read_text(errors="replace")).splitlines():
        if match := _START.search(line):
            task = match.group(4)
        elif _END.search(line):
            task = None
        elif task and (match := _IMPORT.match(line)):
            spent[task] += int(match.group(1)) / 1e6
    return dict(spent)


def _seconds(match: re.Match[str]) -> float:
    return int(match.group(1)) * 3600 + int(match.group(2)) * 60 + float(match.group(3))


def main() -> None:
    """Time both sides `--repeat` times after a shared warm-up, then one import-profiled run; print tables."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per side (default 3)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kubeloop-bench-") as scratch:
        home = Path(scratch) / "home"
        time_plain(home)  # registry schema and imports once, so neither side pays for them alone
        plain, pipeline, steps, tasks = [], [], defaultdict(list), defaultdict(list)
        for index in range(args.repeat):
            elapsed, per_step = time_plain(home)
            plain.append(elapsed)
            for name, seconds in per_step.items():
                steps[name].append(seconds)
            elapsed, log = time_pipeline(home)
            pipeline.append(elapsed)
            for name, seconds in task_seconds(log).items():
                tasks[name].append(seconds)
            print(f"run {index + 1}: plain {plain[-1]:.2f}s, kfp.local {pipeline[-1]:.2f}s", flush=True)
        _, profiled = time_pipeline(home, {"PYTHONPROFILEIMPORTTIME": "1"})
        imports = import_seconds(profiled)
    report(plain, pipeline, steps, tasks, imports)


def report(
    plain: list[float],
    pipeline: list[float],
    steps: dict[str, list[float]],
    tasks: dict[str, list[float]],
    imports: dict[str, float],
) -> None:
    """The summary table and the per-task table."""
    p_med, k_med = statistics.median(plain), statistics.median(pipeline)
    overhead = [(k - p) / len(TASKS) for k, p in zip(pipeline, plain, strict=True)]
    print(f"\n{'training (random forest, iris; 6 tasks)':44} {'median s':>9} {'min s':>7} {'max s':>7}")
    for label, values in (
        ("plain Python (same steps, warm process)", plain),
        ("kubeloop pipeline via kfp.local", pipeline),
        ("per-task overhead ((pipeline - plain) / 6)", overhead),
    ):
        print(f"{label:44} {statistics.median(values):9.2f} {min(values):7.2f} {max(values):7.2f}")
    print(f"{'ratio (kfp.local / plain)':44} {k_med / p_med:9.1f}x   (target: overhead <= 1.5 s per task)")
    print(f"\n{'task':16} {'in pipeline s':>14} {'plain step s':>13} {'overhead s':>11} {'imports s':>10}")
    for name in TASKS:
        wall, step = statistics.median(tasks[name]), statistics.median(steps[name])
        print(f"{name:16} {wall:14.2f} {step:13.2f} {wall - step:11.2f} {imports.get(name, 0.0):10.2f}")
    outside = k_med - sum(statistics.median(tasks[name]) for name in TASKS)
    print(f"{'runner (pre-flight, child, compile, report)':44} {outside:9.2f}")


if __name__ == "__main__":
    main()
