"""In-process predict time of one registered scikit-learn artifact, by each way of feeding it rows.

Used by bench_serving.py: the estimator alone on its prepared matrix is the limit; the frame path
is what the servers did before (a DataFrame through the whole pipeline, once for predict and once
for predict_proba); the replay is the index-based ColumnTransformer over an array; the ONNX copy is
the one registration proved. Each figure is the best of five runs of about 50 ms.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Timing:
    """Microseconds per predict call for 1 and 64 rows of one way of predicting."""

    artifact: str
    option: str
    one_us: float
    batch_us: float


def per_call_us(call: Callable[[], Any], *, seconds: float = 0.05) -> float:
    """Best of five runs of about `seconds` each, in microseconds per call."""
    started = time.perf_counter()
    call()
    calls = max(3, int(seconds / max(time.perf_counter() - started, 1e-6)))
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(calls):
            call()
        runs.append((time.perf_counter() - started) / calls)
    return min(runs) * 1e6


def time_artifact(artifact: str, model: Any, rows: Sequence[Sequence[Any]]) -> list[Timing]:
    """Each option on 1 and 64 of `rows` (a LoadedModel of a scikit-learn artifact)."""
    import pandas as pd

    from kubeloop.serving.core.estimators import estimator_predictor

    # As the servers do: arrays in signature order need no feature-name check (a warning per call).
    warnings.filterwarnings("ignore", message="X does not have valid feature names")
    pipeline, names = model.estimator, model.input_names
    batches = {1: list(rows[:1]), 64: [list(rows[i % len(rows)]) for i in range(64)]}
    frames = {n: pd.DataFrame(batch, columns=names) for n, batch in batches.items()}
    final = pipeline.steps[-1][1] if hasattr(pipeline, "steps") else pipeline
    prepared = {n: pipeline[:-1].transform(frame) if hasattr(pipeline, "steps") else frame.to_numpy()
                for n, frame in frames.items()}
    proba = hasattr(final, "predict_proba")

    def both(estimator: Any, features: Any) -> None:
        estimator.predict(features)
        if proba:
            estimator.predict_proba(features)

    replay = estimator_predictor(pipeline, model.columns)
    options: dict[str, Callable[[int], Callable[[], Any]]] = {
        "estimator alone (its prepared matrix)": lambda n: lambda: both(final, prepared[n]),
        "frame path (before)": lambda n: lambda: both(pipeline, pd.DataFrame(batches[n], columns=names)),
        f"array path ({replay.path})": lambda n: lambda: replay(batches[n]),
    }
    if model.serving_path == "onnx":
        options["ONNX copy (served)"] = lambda n: lambda: model.predict(batches[n])
    return [Timing(artifact, option, per_call_us(make(1)), per_call_us(make(64)))
            for option, make in options.items()]


def print_timings(timings: list[Timing]) -> None:
    """One table: artifact, option, us per call for 1 and 64 rows, and the ratio to the estimator."""
    print("\nin-process predict time per call (us), predictions + probabilities\n")
    print(f"{'artifact':<22}{'option':<40}{'1 row':>10}{'64 rows':>10}{'vs estimator (1 row)':>24}")
    limit = {t.artifact: t.one_us for t in timings if t.option.startswith("estimator")}
    for t in timings:
        ratio = t.one_us / limit[t.artifact] if t.artifact in limit else float(np.nan)
        print(f"{t.artifact:<22}{t.option:<40}{t.one_us:>10.1f}{t.batch_us:>10.1f}{ratio:>23.3g}x")
