"""Benchmark: the training pipeline through kfp.local against the same five steps in plain Python.

Both sides train the same model on the same data into a fresh MLflow SQLite registry of their own;
the pipeline side pays for one process per task (kfp.local's SubprocessRunner), artifact passing
through files and the runner's child process. Run: `python bench/bench_training.py [--repeat N]`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from kubeloop.settings import load_settings

PARAMS = {"estimator": "random_forest", "hyperparams": {"n_estimators": 50}}


def time_pipeline(home: Path) -> float:
    """Seconds for one training pipeline run through the local kfp.local runner."""
    import kubeloop.pipelines as pipelines

    settings = load_settings({"KUBELOOP_HOME": str(home)}).ensure_dirs()
    started = time.perf_counter()
    status = pipelines.run("training", PARAMS, settings=settings, timeout=900)
    elapsed = time.perf_counter() - started
    if status.state != "succeeded":
        raise SystemExit(f"pipeline run failed: {status.message}")
    return elapsed


def time_plain(home: Path) -> float:
    """Seconds for the same steps called in this process."""
    from kubeloop.training.config import TrainingConfig
    from kubeloop.training.outcome import run_in_process

    settings = load_settings({"KUBELOOP_HOME": str(home)}).ensure_dirs()
    started = time.perf_counter()
    run_in_process(TrainingConfig.from_params(PARAMS), settings=settings)
    return time.perf_counter() - started


def warm_up(home: Path) -> None:
    """Create the registry schema and import the libraries once, so neither side pays for it alone."""
    time_plain(home)


def main() -> None:
    """Time both sides `--repeat` times (each in a fresh home after a shared warm-up) and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=2, help="runs per side (default 2)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kubeloop-bench-") as scratch:
        root = Path(scratch)
        warm_up(root / "warm")
        plain, pipeline = [], []
        for index in range(args.repeat):
            # Each run registers into a home whose registry already exists, like a user's second run.
            plain.append(time_plain(root / "warm"))
            pipeline.append(time_pipeline(root / "warm"))
            print(f"run {index + 1}: plain {plain[-1]:.1f}s, kfp.local {pipeline[-1]:.1f}s", flush=True)
    p_med, k_med = statistics.median(plain), statistics.median(pipeline)
    print()
    print(f"{'training (random forest, iris)':34} {'median s':>9} {'min s':>7} {'max s':>7}")
    print(f"{'plain Python (same steps)':34} {p_med:9.2f} {min(plain):7.2f} {max(plain):7.2f}")
    print(f"{'kubeloop pipeline via kfp.local':34} {k_med:9.2f} {min(pipeline):7.2f} {max(pipeline):7.2f}")
    print(f"{'overhead ratio (kfp.local / plain)':34} {k_med / p_med:9.1f}x")


if __name__ == "__main__":
    main()
