"""Drift-check benchmark: kubeloop's check against Evidently's `DataDriftPreset` on the same data.

Each case runs in its own subprocess so its peak RSS is its own: N logged rows x 20 numeric features
(5 of them shifted by 0.2 standard deviations) against a reference sample of --reference-rows rows.
kubeloop's check is timed without the Evidently HTML report (the job renders that on a sample);
Evidently runs `DataDriftPreset(method="ks")`, the same test kubeloop uses for numbers, so the
per-feature verdicts can be compared (kubeloop's uncorrected p < 0.05 against Evidently's).
Evidently runs at 10k and 100k rows; at 1M rows only with --evidently-1m (it takes minutes and GBs).
Run: `python bench/bench_drift.py [--sizes 10000,100000,1000000] [--evidently-1m]`.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from typing import Any

import numpy as np
import pandas as pd

FEATURES = 20
SHIFTED = 5
ALPHA = 0.05


def make_data(rows: int, reference_rows: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current frames; columns x0..x4 of the current one are shifted."""
    rng = np.random.default_rng(seed)
    names = [f"x{i}" for i in range(FEATURES)]
    reference = pd.DataFrame(rng.normal(size=(reference_rows, FEATURES)), columns=names, copy=False)
    current = rng.normal(size=(rows, FEATURES))
    current[:, :SHIFTED] += 0.2
    return reference, pd.DataFrame(current, columns=names, copy=False)


def run_ours(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, Any]:
    """kubeloop's check; the reference profile is built at registration, so outside the timing."""
    from kubeloop.drift.check import Reference, check_drift
    from kubeloop.spec import DriftSpec

    ref = Reference.from_sample(reference)
    start, cpu = time.perf_counter(), time.process_time()
    result = check_drift(reference=ref, current=current, spec=DriftSpec(min_rows=100))
    elapsed = time.perf_counter() - start
    return {
        "seconds": elapsed,
        "cpu_seconds": time.process_time() - cpu,
        "verdicts": {f.feature: f.score < ALPHA for f in result.features},
        "corrected": sum(f.drifted for f in result.features),
    }


def run_evidently(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, Any]:
    """Evidently's DataDriftPreset with KS on every column, the way a user would run it."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    start, cpu = time.perf_counter(), time.process_time()
    definition = DataDefinition(numerical_columns=list(current.columns))
    snapshot = Report([DataDriftPreset(method="ks")]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    verdicts = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith("ValueDrift"):
            verdicts[config["column"]] = bool(metric["value"] < config.get("threshold", ALPHA))
    return {"seconds": elapsed, "cpu_seconds": cpu, "verdicts": verdicts}


def child(which: str, rows: int, reference_rows: int) -> None:
    """One measurement in this process; prints JSON with time, peak RSS and the check's own peak."""
    reference, current = make_data(rows, reference_rows)
    data_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = (run_ours if which == "ours" else run_evidently)(reference, current)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["data_rss_mb"] = data_rss
    if which == "ours":  # a second, traced run: tracemalloc slows allocation-heavy code, so not timed
        tracemalloc.start()
        run_ours(reference, current)
        out["traced_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    print(json.dumps(out))


def measure(which: str, rows: int, reference_rows: int, timeout: float) -> dict | None:
    """Run one case in a subprocess; None when it did not finish in time."""
    command = [
        sys.executable,
        __file__,
        "--child",
        which,
        "--rows",
        str(rows),
        "--reference-rows",
        str(reference_rows),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        raise SystemExit(f"{which} at {rows:,} rows failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--reference-rows", type=int, default=10_000)
    parser.add_argument("--evidently-1m", action="store_true", help="also run Evidently at 1M rows")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--corrections", action="store_true",
                        help="time kubeloop's Holm correction against statsmodels' (loaded heap)")
    parser.add_argument("--child", choices=["ours", "evidently"])
    parser.add_argument("--rows", type=int)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.rows, args.reference_rows)
        return
    if args.corrections:
        compare_corrections()
        return
    print(
        f"{FEATURES} numeric features ({SHIFTED} shifted by 0.2 sd), reference sample "
        f"{args.reference_rows:,} rows; Evidently DataDriftPreset(method='ks'); peak RSS per subprocess"
    )
    header = (
        f"{'rows':>9} | {'kubeloop s':>10} {'cpu s':>6} {'peak MB':>8} {'check MB':>8} | {'Evidently s':>11} "
        f"{'cpu s':>6} {'peak MB':>8} | {'time x':>7} {'mem x':>6} | verdicts"
    )
    print(header)
    print("-" * len(header))
    for rows in (int(s) for s in args.sizes.split(",")):
        ours = measure("ours", rows, args.reference_rows, args.timeout)
        skip = rows >= 1_000_000 and not args.evidently_1m
        theirs = None if skip else measure("evidently", rows, args.reference_rows, args.timeout)
        print(row_text(rows, ours, theirs, skipped=skip))
    print("check MB = the check's own peak allocations (tracemalloc); peak MB includes the data and imports;")
    print(
        "cpu s = process CPU time of the check, less sensitive than wall time to other load on the machine."
    )
    print(
        "verdicts = features where kubeloop's uncorrected verdict equals Evidently's; [BH: n] = drifted "
        "after kubeloop's Benjamini-Hochberg correction."
    )


def compare_corrections(calls: int = 20) -> None:
    """Holm's adjustment, ours against statsmodels', as a drift job calls it (libraries loaded)."""
    import evidently  # noqa: F401  (a drift job's heap: Evidently, pandas, scipy and their objects)
    from statsmodels.stats.multitest import multipletests

    from kubeloop.drift.stattests import holm

    p = np.random.default_rng(0).uniform(size=FEATURES)
    timings = {}
    for name, adjust in (("kubeloop", holm), ("statsmodels", lambda v: multipletests(v, method="holm")[1])):
        start = time.perf_counter()
        for _ in range(calls):
            adjusted = adjust(p)
        timings[name] = (time.perf_counter() - start) / calls
    assert np.allclose(holm(p), multipletests(p, method="holm")[1])
    ours, theirs = timings["kubeloop"], timings["statsmodels"]
    print(f"Holm over {FEATURES} p-values, mean of {calls} calls: kubeloop {ours * 1e3:.3f} ms, "
          f"statsmodels {theirs * 1e3:.1f} ms ({theirs / ours:.0f}x; it runs gc.collect() on every call); "
          f"same values: yes ({adjusted.size} p-values)")


def row_text(rows: int, ours: dict | None, theirs: dict | None, *, skipped: bool) -> str:
    """One table row."""
    if ours is None:
        return f"{rows:>9,} | kubeloop timed out"
    left = (
        f"{rows:>9,} | {ours['seconds']:>10.2f} {ours['cpu_seconds']:>6.2f} {ours['peak_rss_mb']:>8.0f} "
        f"{ours['traced_mb']:>8.0f} | "
    )
    if theirs is None:
        why = "skipped (--evidently-1m)" if skipped else "timed out"
        return left + f"{why:>27} | {'':>14} | [BH: {ours['corrected']}]"
    same = sum(ours["verdicts"][k] == v for k, v in theirs["verdicts"].items())
    return left + (
        f"{theirs['seconds']:>11.2f} {theirs['cpu_seconds']:>6.1f} {theirs['peak_rss_mb']:>8.0f} | "
        f"{theirs['seconds'] / ours['seconds']:>7.1f} {theirs['peak_rss_mb'] / ours['peak_rss_mb']:>6.1f}"
        f" | {same}/{len(theirs['verdicts'])} same [BH: {ours['corrected']}]"
    )


if __name__ == "__main__":
    main()
