"""Benchmark: the training pipeline through kfp.local, its tasks started warm (kubeloop's default) and
each in a fresh interpreter (kfp.local alone), against the same six steps in plain Python.

All sides train the same model on the same data into one MLflow SQLite registry (created by a
shared warm-up, like a user's second run). A pipeline side pays for one process per task
(kfp.local's SubprocessRunner), artifact passing through files and the runner's child process; the
plain side runs the steps in this already-warm process. Pipelines run through the Python API
(`kubeloop.pipelines.run`), so their pre-flight also runs in this process. Reported: each pipeline
side's per-task overhead ((pipeline - plain) / tasks) beside the plain time and the ratio of the two
overheads, then per task its wall time on each side, the same step in plain Python, and the
seconds a fresh task's process spent importing (a separate fresh run with PYTHONPROFILEIMPORTTIME,
whose own printing is not in the timed runs).

Run: `python bench/bench_training.py [--repeat N]`.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from kubeloop.settings import load_settings

PARAMS = {"estimator": "random_forest", "hyperparams": {"n_estimators": 50}}
FRESH, WARM = "fresh", "warm"
SIDES = {FRESH: {"KUBELOOP_WARM_TASKS": "0"}, WARM: {"KUBELOOP_WARM_TASKS": "1"}}
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
        plain: list[float] = []
        steps: dict[str, list[float]] = defaultdict(list)
        sides = {side: Side() for side in SIDES}
        for index in range(args.repeat):
            elapsed, per_step = time_plain(home)
            plain.append(elapsed)
            for name, seconds in per_step.items():
                steps[name].append(seconds)
            for side, env in SIDES.items():
                sides[side].add(*time_pipeline(home, env))
            times = ", ".join(f"{side} {sides[side].totals[-1]:.2f}s" for side in SIDES)
            print(f"run {index + 1}: plain {plain[-1]:.2f}s, kfp.local {times}", flush=True)
        _, profiled = time_pipeline(home, {**SIDES[FRESH], "PYTHONPROFILEIMPORTTIME": "1"})
        imports = import_seconds(profiled)
    report(plain, steps, sides, imports)


@dataclass
class Side:
    """One way of running the pipeline: its total seconds per run and each task's seconds per run."""

    totals: list[float] = field(default_factory=list)
    tasks: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def add(self, elapsed: float, log: Path) -> None:
        """Record one run from its time and its log."""
        self.totals.append(elapsed)
        for name, seconds in task_seconds(log).items():
            self.tasks[name].append(seconds)

    def overhead(self, plain: list[float]) -> list[float]:
        """Per run, the seconds per task beyond the plain steps."""
        return [(total - alone) / len(TASKS) for total, alone in zip(self.totals, plain, strict=True)]

    def task(self, name: str) -> float:
        """The task's median seconds."""
        return statistics.median(self.tasks[name])

    def runner(self) -> float:
        """Median seconds outside the tasks: pre-flight, child, compile, report."""
        return statistics.median(self.totals) - sum(self.task(name) for name in TASKS)


def report(
    plain: list[float], steps: dict[str, list[float]], sides: dict[str, Side], imports: dict[str, float]
) -> None:
    """The summary table (with the ratio of per-task overheads) and the per-task table."""
    warm, fresh = sides[WARM], sides[FRESH]
    overheads = {side: sides[side].overhead(plain) for side in SIDES}
    print(f"\n{'training (random forest, iris; 6 tasks)':50} {'median s':>9} {'min s':>7} {'max s':>7}")
    for label, values in (
        ("plain Python (same steps, warm process)", plain),
        ("kfp.local, a fresh interpreter per task", fresh.totals),
        ("kfp.local, tasks started warm (default)", warm.totals),
        ("per-task overhead, fresh ((pipeline - plain) / 6)", overheads[FRESH]),
        ("per-task overhead, warm ((pipeline - plain) / 6)", overheads[WARM]),
    ):
        print(f"{label:50} {statistics.median(values):9.2f} {min(values):7.2f} {max(values):7.2f}")
    ratio = statistics.median(overheads[FRESH]) / statistics.median(overheads[WARM])
    print(f"{'per-task overhead ratio (fresh / warm)':50} {ratio:9.1f}x  (target: warm <= 1.5 s per task)")
    header = ("warm s", "fresh s", "plain step s", "warm over s", "fresh over s", "fresh imports s")
    print(f"\n{'task':24}" + "".join(f" {label:>15}" for label in header))
    for name in TASKS:
        step = statistics.median(steps[name])
        row = (warm.task(name), fresh.task(name), step, warm.task(name) - step, fresh.task(name) - step)
        print(f"{name:24}" + "".join(f" {value:15.2f}" for value in (*row, imports.get(name, 0.0))))
    print(f"{'runner (outside tasks)':24} {warm.runner():15.2f} {fresh.runner():15.2f}")
    print("runner: pre-flight, the run's child process, kfp.local's compile, the report")


if __name__ == "__main__":
    main()
