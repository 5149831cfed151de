"""Given/When/Then helpers for the rollout end-to-end tests: models to register and a bounded load."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import cloudpickle
import httpx
import numpy as np
from sklearn.linear_model import LogisticRegression

from kubeloop.settings import Settings

IRIS_COLUMNS = ("sepal_length", "sepal_width", "petal_length", "petal_width")


class ErroringClassifier(LogisticRegression):
    """A classifier that fails on long petals (about two rows in five of iris), as a broken release would."""

    def predict(self, X: Any) -> Any:  # noqa: N803 - scikit-learn's argument name
        if (np.asarray(X, dtype=float)[:, 2] > 4.8).any():
            raise RuntimeError("this challenger cannot handle long petals")
        return super().predict(X)


def register(settings: Settings, *, name: str, kind: str, seed: int = 0) -> str:
    """Register an iris model: `champion`, `good` (another regression), `shuffled` labels or `erroring`."""
    import mlflow
    from mlflow.models import infer_signature

    from kubeloop.registry.mlflow_registry import MlflowRegistry
    from kubeloop.serving.testing import iris_frame

    frame = iris_frame()
    features, target = frame[list(IRIS_COLUMNS)], frame["species"]
    mlflow.set_tracking_uri(settings.tracking_uri)
    experiment = mlflow.set_experiment("rollout-e2e")
    with mlflow.start_run(experiment_id=experiment.experiment_id) as run:
        seed = 1 if kind == "good" else seed
        labels = target.sample(frac=1.0, random_state=seed).to_numpy() if kind == "shuffled" else target
        estimator = (ErroringClassifier if kind == "erroring" else LogisticRegression)(
            max_iter=500, C=1.0 + seed
        )
        estimator.fit(features, labels)
        # The server process cannot import this test module: pickle the erroring class by value.
        cloudpickle.register_pickle_by_value(sys.modules[__name__])
        info = mlflow.sklearn.log_model(
            estimator,
            name="model",
            serialization_format="cloudpickle",
            signature=infer_signature(features, target.to_numpy()),
            # Named requirements skip MLflow's inference, which imports the model in a subprocess (slow).
            pip_requirements=["scikit-learn", "cloudpickle"],
        )
    registry = MlflowRegistry(tracking_uri=settings.tracking_uri)
    aliases = ("champion",) if registry.version_for_alias(name, "champion") is None else ()
    return registry.register(
        name=name, model_uri=info.model_uri, run_id=run.info.run_id, tags={}, aliases=aliases
    ).version


@dataclass
class Load:
    """Steady requests at a bounded rate from a few threads until stopped; every answer is counted."""

    url: str
    rate: float = 60.0
    threads: int = 3
    statuses: Counter = field(default_factory=Counter)
    by_version: Counter = field(default_factory=Counter)
    failures: list[tuple[float, int, str, str]] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Load:
        from kubeloop.serving.testing import iris_frame

        rows = iris_frame()[list(IRIS_COLUMNS)].to_dict("records")
        for index in range(self.threads):
            worker = threading.Thread(target=self._run, args=(rows, random.Random(index)), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=30)

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    @property
    def failed(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != 200)

    def _run(self, rows: list[dict[str, Any]], rng: random.Random) -> None:
        period = self.threads / self.rate
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                started, sent_at = time.perf_counter(), time.time()
                row = rng.choice(rows)
                try:
                    response = client.post(self.url, json={"instances": [row]})
                    status, version = response.status_code, response.headers.get("x-kubeloop-version", "?")
                    text = response.text[:200] if status != 200 else ""
                except httpx.HTTPError as error:
                    status, version, text = 599, "?", str(error)
                elapsed = time.perf_counter() - started
                with self._lock:
                    self.statuses[status] += 1
                    self.by_version[version] += 1
                    self.latencies.append(elapsed)
                    if status != 200:
                        self.failures.append((sent_at, status, version, text))
                self._stop.wait(max(0.0, period - elapsed))


def kubeloop(*args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would (in the environment the test set up)."""
    done = subprocess.run(
        [sys.executable, "-m", "kubeloop", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"kubeloop {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


def rollout_state(settings: Settings, deployment: str) -> dict[str, Any]:
    """The state file as the controller wrote it."""
    return json.loads((settings.state_dir / "rollouts" / f"{deployment}.json").read_text())


def wait_for(predicate: Any, *, timeout: float, what: str, poll: float = 0.2, show: Any = None) -> Any:
    """Poll until `predicate()` is truthy; fail naming `what` (and `show()`) after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(
        f"timed out after {timeout:.0f}s waiting for {what}" + (f": {show()}" if show else "")
    )
