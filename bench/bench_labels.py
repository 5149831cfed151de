"""Labels benchmark: joining logged predictions with labels and computing every online-quality metric
with its interval, kubeloop against a pandas merge with scikit-learn metrics, side by side.

Each case runs in its own subprocess so its peak RSS is its own. The data are --predictions logged
answers (three classes with probabilities, or a regressor) as `read_predictions` returns them, and
--labels labels of a non-uniform sample (inclusion probability from an uncertainty policy), as the
label store holds them. kubeloop: `labeled_rows` then `online_quality` (every metric, linearized
intervals, a --replicates bootstrap for calibration error). The alternative a user would write:
`DataFrame.merge`, then scikit-learn's metrics with `sample_weight`, with intervals from the same
number of bootstrap resamples (scikit-learn has no intervals); its point estimates alone are timed
too. Run: `python bench/bench_labels.py [--predictions 1000000] [--labels 100000] [--replicates 200]`.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any

import numpy as np
import pandas as pd

CLASSES = np.array(["cat", "dog", "fox"])
KEYS = ["request_id", "row"]


def make_data(task: str, predictions: int, labels: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Logged predictions and the labels of a sample of them chosen by uncertainty."""
    rng = np.random.default_rng(seed)
    ids = np.char.mod("%032x", rng.integers(0, 2**62, predictions)).astype(object)
    frame = pd.DataFrame({"request_id": ids, "row": 0, "timestamp": 1.7e9, "deployment": "bench",
                          "model": "m", "version": "1", "role": "champion", "status": 200, "latency_ms": 1.0})
    if task == "classification":
        truth = rng.integers(0, 3, predictions)
        logits = rng.normal(size=(predictions, 3))
        logits[np.arange(predictions), truth] += 1.5
        probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        frame["prediction"] = CLASSES[probabilities.argmax(axis=1)]
        for index, name in enumerate(CLASSES):
            frame[f"probability.{name}"] = probabilities[:, index]
        uncertainty = (1 - probabilities.max(axis=1)) * 1.5
        true_values: np.ndarray = CLASSES[truth]
    else:
        true_values = rng.normal(10, 3, predictions)
        frame["prediction"] = true_values + rng.normal(0, 1, predictions)
        uncertainty = np.abs(frame["prediction"].to_numpy() - 10) / 9
    inclusion = np.clip(0.02 + uncertainty, 0.02, 1.0)
    inclusion *= labels / inclusion.sum()
    frame["inclusion_probability"] = np.clip(inclusion, 1e-3, 1.0)
    chosen = rng.choice(predictions, size=labels, replace=False, p=inclusion / inclusion.sum())
    label_frame = pd.DataFrame({"request_id": ids[chosen], "row": 0, "label": true_values[chosen],
                                "sampling_probability": np.nan, "received_at": 1.7e9 + 3600,
                                "updated_at": 1.7e9 + 3600})
    return frame, label_frame


def run_ours(predictions: pd.DataFrame, labels: pd.DataFrame, replicates: int) -> dict[str, Any]:
    from kubeloop.labels.join import labeled_rows
    from kubeloop.quality.online import online_quality

    start, cpu = time.perf_counter(), time.process_time()
    joined = labeled_rows(predictions, labels)
    joined_at = time.perf_counter()
    (report,) = online_quality(joined, replicates=replicates)
    done = time.perf_counter()
    values = {name: e.value for name, e in report.metrics.items()}
    intervals = sum(1 for e in report.metrics.values() if e.low == e.low)
    return {"seconds": done - start, "join_seconds": joined_at - start,
            "cpu_seconds": time.process_time() - cpu, "values": values, "rows": len(joined),
            "intervals": intervals}


def sklearn_metrics(task: str, frame: pd.DataFrame, weights: np.ndarray) -> dict[str, float]:
    """Every metric with scikit-learn (calibration error with numpy: scikit-learn has none weighted)."""
    from sklearn import metrics as sk

    truth, predicted = frame["label"].to_numpy(), frame["prediction"].to_numpy()
    if task == "regression":
        return {"mae": sk.mean_absolute_error(truth, predicted, sample_weight=weights),
                "rmse": float(np.sqrt(sk.mean_squared_error(truth, predicted, sample_weight=weights))),
                "r2": sk.r2_score(truth, predicted, sample_weight=weights)}
    probabilities = frame[[f"probability.{c}" for c in CLASSES]].to_numpy()
    precision, recall, f1, _ = sk.precision_recall_fscore_support(truth, predicted, labels=CLASSES,
                                                                   sample_weight=weights, zero_division=0)
    confidence = probabilities.max(axis=1)
    right = CLASSES[probabilities.argmax(axis=1)] == truth
    bins = np.minimum((confidence * 15).astype(int), 14)
    gaps = np.bincount(bins, weights=weights * (right - confidence), minlength=15)
    values = {"accuracy": sk.accuracy_score(truth, predicted, sample_weight=weights),
              "macro-f1": sk.f1_score(truth, predicted, average="macro", sample_weight=weights),
              "log-loss": sk.log_loss(truth, probabilities, labels=CLASSES, sample_weight=weights),
              "brier": sk.brier_score_loss(truth, probabilities, labels=CLASSES, sample_weight=weights),
              "ece": float(np.abs(gaps).sum() / weights.sum())}
    for index, name in enumerate(CLASSES):
        values |= {f"precision.{name}": precision[index], f"recall.{name}": recall[index],
                   f"f1.{name}": f1[index]}
    return values


def run_sklearn(task: str, predictions: pd.DataFrame, labels: pd.DataFrame,
                replicates: int) -> dict[str, Any]:
    import sklearn.metrics  # noqa: F401 - imported before the clock starts, as kubeloop's modules are

    start, cpu = time.perf_counter(), time.process_time()
    joined = predictions[predictions["status"] < 400].merge(labels, on=KEYS, how="inner")
    joined_at = time.perf_counter()
    weights = 1.0 / joined["inclusion_probability"].to_numpy()
    values = sklearn_metrics(task, joined, weights)
    rng = np.random.default_rng(0)
    draws = []
    for _ in range(replicates):
        pick = rng.integers(0, len(joined), len(joined))
        draws.append(sklearn_metrics(task, joined.iloc[pick], weights[pick]))
    intervals = {k: np.percentile([d[k] for d in draws], [2.5, 97.5]) for k in values} if draws else {}
    done = time.perf_counter()
    return {"seconds": done - start, "join_seconds": joined_at - start,
            "cpu_seconds": time.process_time() - cpu, "values": values, "rows": len(joined),
            "intervals": sum("." not in name for name in intervals)}


def child(which: str, task: str, predictions: int, labels: int, replicates: int) -> None:
    frame, label_frame = make_data(task, predictions, labels)
    data_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if which == "ours":
        out = run_ours(frame, label_frame, replicates)
    else:
        out = run_sklearn(task, frame, label_frame, replicates if which == "sklearn-bootstrap" else 0)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["data_rss_mb"] = data_rss
    print(json.dumps(out))


def measure(which: str, args: argparse.Namespace, task: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", which, "--task", task,
               "--predictions", str(args.predictions), "--labels", str(args.labels),
               "--replicates", str(args.replicates)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{which} ({task}) failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", type=int, default=1_000_000)
    parser.add_argument("--labels", type=int, default=100_000)
    parser.add_argument("--replicates", type=int, default=200, help="bootstrap resamples where one is used")
    parser.add_argument("--tasks", default="classification,regression")
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--child", choices=["ours", "sklearn-point", "sklearn-bootstrap"])
    parser.add_argument("--task", default="classification")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.task, args.predictions, args.labels, args.replicates)
        return
    print(f"{args.predictions:,} logged predictions joined with {args.labels:,} labels (uncertainty "
          f"sample); bootstrap {args.replicates} resamples; peak RSS per subprocess")
    header = (f"{'task':<14} {'case':<42} {'total s':>8} {'join s':>7} {'cpu s':>7} {'peak MB':>8} "
              f"{'intervals':>9} {'time x':>7} {'cpu x':>6} {'mem x':>6}")
    print(header)
    print("-" * len(header))
    for task in args.tasks.split(","):
        ours = measure("ours", args, task)
        print(line(task, "kubeloop (labeled_rows + online_quality)", ours, ours))
        for which, name in (("sklearn-bootstrap", "pandas merge + scikit-learn, bootstrap"),
                            ("sklearn-point", "pandas merge + scikit-learn, no intervals")):
            theirs = measure(which, args, task)
            print(line(task, name, theirs, ours))
        point = measure("sklearn-point", args, task)["values"]
        gap = max(abs(ours["values"][k] - v) for k, v in point.items() if k in ours["values"])
        print(f"{'':<14} same point estimates as scikit-learn: largest difference {gap:.1e}")
    print("time x / cpu x / mem x: the row's wall time, CPU time and peak RSS over kubeloop's (CPU time is "
          "less sensitive to other load); peak MB includes the data and the imports;")
    print("intervals = whole-model metrics with an interval (kubeloop adds per-class precision, recall, F1).")


def line(task: str, name: str, result: dict[str, Any], ours: dict[str, Any]) -> str:
    return (f"{task:<14} {name:<42} {result['seconds']:>8.2f} {result['join_seconds']:>7.2f} "
            f"{result['cpu_seconds']:>7.2f} {result['peak_rss_mb']:>8.0f} {result['intervals']:>9} "
            f"{result['seconds'] / ours['seconds']:>7.1f} "
            f"{result['cpu_seconds'] / ours['cpu_seconds']:>6.1f} "
            f"{result['peak_rss_mb'] / ours['peak_rss_mb']:>6.1f}")


if __name__ == "__main__":
    main()
