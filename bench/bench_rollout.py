"""Rollout benchmark: how fast a failing challenger loses its traffic, and what a rollout costs callers.

Local mode, loopback only, bounded in time: a gateway and three model servers (champion, a good
challenger, one that fails on long petals) under a steady load from a few client threads.
1. Gateway latency (p50/p99 seen by clients) with no rollout, then during a full rollout of the good
   challenger (shadow mirroring 100%, then 10/25/50%, promotion).
2. Rollback speed, repeated: a canary of the failing challenger with failureLimit 1, so the first failed
   check is the rollback decision; measured from that decision to the gateway's routes sending it 0%,
   and to the last request the challenger answered.
Targets: rollback within 1 s of the decision; p99 during a rollout within 10% of steady state.
Run: `python bench/bench_rollout.py [--rate 40] [--steady 20] [--repeats 5]`.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import cloudpickle
import httpx
import numpy as np
from sklearn.linear_model import LogisticRegression

MODEL = "iris-bench"
COLUMNS = ("sepal_length", "sepal_width", "petal_length", "petal_width")


class ErroringClassifier(LogisticRegression):
    """Fails on long petals, as a broken release would."""

    def predict(self, X: Any) -> Any:  # noqa: N803 - scikit-learn's argument name
        if (np.asarray(X, dtype=float)[:, 2] > 4.8).any():
            raise RuntimeError("cannot handle long petals")
        return super().predict(X)


def register_erroring(settings: Any) -> str:
    import mlflow
    from mlflow.models import infer_signature

    from kubeloop.registry.mlflow_registry import MlflowRegistry
    from kubeloop.serving.testing import iris_frame

    frame = iris_frame()
    features, target = frame[list(COLUMNS)], frame["species"]
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    mlflow.set_tracking_uri(settings.tracking_uri)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(
            ErroringClassifier(max_iter=500).fit(features, target),
            name="model",
            serialization_format="cloudpickle",
            signature=infer_signature(features, target.to_numpy()),
        )
    registry = MlflowRegistry(tracking_uri=settings.tracking_uri)
    return registry.register(name=MODEL, model_uri=info.model_uri, run_id=run.info.run_id, tags={}).version


class Load:
    """Clients at a bounded total rate; records (sent at, latency, status, version) for every request."""

    def __init__(self, url: str, *, rate: float, threads: int = 3) -> None:
        self.url, self.rate, self.threads = url, rate, threads
        self.samples: list[tuple[float, float, int, str]] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []

    def __enter__(self) -> Load:
        from kubeloop.serving.testing import iris_frame

        rows = iris_frame()[list(COLUMNS)].to_dict("records")
        for index in range(self.threads):
            worker = threading.Thread(target=self._run, args=(rows, random.Random(index)), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=30)

    def window(self, start: float, end: float) -> list[tuple[float, float, int, str]]:
        with self._lock:
            return [s for s in self.samples if start <= s[0] < end]

    def _run(self, rows: list[dict[str, Any]], rng: random.Random) -> None:
        period = self.threads / self.rate
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                sent, started = time.time(), time.perf_counter()
                try:
                    response = client.post(self.url, json={"instances": [rng.choice(rows)]})
                    status, version = response.status_code, response.headers.get("x-kubeloop-version", "?")
                except httpx.HTTPError:
                    status, version = 599, "?"
                elapsed = time.perf_counter() - started
                with self._lock:
                    self.samples.append((sent, elapsed, status, version))
                self._stop.wait(max(0.0, period - elapsed))


class TimedRouter:
    """Wraps the gateway router to note when routes sending the challenger 0% took effect."""

    def __init__(self, router: Any) -> None:
        self.router = router
        self.zeroed_at: list[float] = []

    def set_routes(self, deployment: str, routes: Any) -> None:
        self.router.set_routes(deployment, routes)
        if routes.canary_weight == 0 and routes.shadow_percent == 0:
            self.zeroed_at.append(time.time())

    def get_routes(self, deployment: str) -> Any:
        return self.router.get_routes(deployment)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def run_rollout(controller: Any, *, version: str, spec: Any, timeout: float) -> Any:
    state = controller.start(deployment="iris", model=MODEL, version=version, spec=spec)
    deadline = time.monotonic() + timeout
    while not state.done and time.monotonic() < deadline:
        time.sleep(0.05)
        state = controller.tick("iris")
    if not state.done:
        raise SystemExit(f"the rollout of version {version} did not finish in {timeout:.0f}s")
    return state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=40.0, help="client requests per second")
    parser.add_argument("--steady", type=float, default=20.0, help="seconds of load with no rollout")
    parser.add_argument("--repeats", type=int, default=5, help="rollbacks to time")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="kubeloop-bench-rollout-"))
    os.environ["KUBELOOP_HOME"] = str(home)
    os.environ.pop("KUBELOOP_TRACKING_URI", None)
    os.environ.pop("MLFLOW_TRACKING_URI", None)

    from kubeloop.analysis.measure import Subject  # noqa: F401 - imported early so timings exclude it
    from kubeloop.controller.local import LocalTarget, controller_for, metrics_targets
    from kubeloop.local import processes
    from kubeloop.metricsources.scrape import ScrapeSource
    from kubeloop.routing.base import Routes
    from kubeloop.routing.gateway import GatewayRouter
    from kubeloop.serving.testing import register_iris
    from kubeloop.settings import load_settings
    from kubeloop.spec import RolloutSpec, parse_deployment

    settings = load_settings().ensure_dirs()
    print("registering models and starting servers...", file=sys.stderr)
    champion = register_iris(settings, name=MODEL, seed=0)
    good = register_iris(settings, name=MODEL, seed=1, aliases=())
    bad = register_erroring(settings)
    deployment = parse_deployment({"metadata": {"name": "iris"}, "spec": {"model": {"name": MODEL}}})
    processes.save_deployment(settings, deployment)
    try:
        for version in (champion, good, bad):
            processes.start_server(settings, deployment="iris", model=MODEL, version=version)
        gateway = processes.start_gateway(settings)
        GatewayRouter.from_settings(settings).set_routes("iris", Routes(stable=champion))
        router = TimedRouter(GatewayRouter.from_settings(settings))
        scrape = ScrapeSource(lambda: metrics_targets(settings, "iris"), period=0.25).start()
        target = LocalTarget(
            deployment="iris",
            model=MODEL,
            strategy=RolloutSpec(),
            runtime="kserve",
            workers=1,
            max_batch_rows=64,
        )
        controller = controller_for(settings, target, metrics=scrape)
        controller = type(controller)(
            controller.ports.__class__(**{**vars(controller.ports), "router": router})
        )
        url = f"{gateway.url}/v1/models/iris:predict"
        checks = [
            {"name": "error-rate", "kind": "error-rate", "threshold": 0.05, "minSamples": 5},
            {"name": "latency-p99", "kind": "latency-p99-ratio", "threshold": 10, "minSamples": 5},
            {"name": "disagreement", "kind": "disagreement", "threshold": 0.2, "minSamples": 10},
        ]
        good_spec = RolloutSpec.model_validate(
            {
                "shadow": {"duration": "4s", "minSamples": 10},
                "canary": {"steps": [10, 25, 50], "interval": "3s"},
                "checks": checks,
                "keepPreviousWarm": "1s",
            }
        )
        bad_spec = RolloutSpec.model_validate(
            {
                "shadow": None,
                "canary": {"steps": [50], "interval": "1s"},
                "checks": checks[:1],
                "failureLimit": 1,
            }
        )
        with Load(url, rate=args.rate) as load:
            time.sleep(3)  # warm-up
            steady_from = time.time()
            time.sleep(args.steady)
            steady = load.window(steady_from, time.time())
            during_from = time.time()
            promoted = run_rollout(controller, version=good, spec=good_spec, timeout=120)
            during = load.window(during_from, time.time())
            assert promoted.phase.value == "promoted", promoted.history[-1].reason
            timings = []
            for _ in range(args.repeats):
                router.zeroed_at.clear()
                state = run_rollout(controller, version=bad, spec=bad_spec, timeout=60)
                decision = state.history[-1]
                assert decision.kind == "rollback", decision.reason
                time.sleep(1.0)
                served = [s for s in load.window(state.started_at, time.time()) if s[3] == bad]
                last_served = max((s[0] + s[1] for s in served), default=decision.at)
                timings.append((router.zeroed_at[0] - decision.at, last_served - decision.at))
        scrape.close()
    finally:
        for record in processes.server_records(settings, "iris"):
            processes.stop(record)
        processes.stop_gateway(settings)
    report(steady, during, timings, args)


def report(steady: list, during: list, timings: list, args: argparse.Namespace) -> None:
    lat = lambda rows, q: 1000 * percentile([s[1] for s in rows if s[2] == 200], q)  # noqa: E731
    failed = lambda rows: sum(1 for s in rows if s[2] != 200)  # noqa: E731
    routes = [t[0] * 1000 for t in timings]
    served = [t[1] * 1000 for t in timings]
    print(
        f"\nrollout benchmark: {args.rate:g} req/s, {len(steady)} requests steady, {len(during)} during the "
        f"rollout, {len(timings)} rollbacks"
    )
    rows = [
        ("rollback: decision -> routes at 0% (median ms)", statistics.median(routes), 1000.0, "target 1 s"),
        ("rollback: decision -> routes at 0% (max ms)", max(routes), 1000.0, "target 1 s"),
        ("rollback: decision -> last challenger answer (max ms)", max(served), 1000.0, "target 1 s"),
        ("gateway p50 during rollout vs steady (ms)", lat(during, 50), lat(steady, 50), "no rollout"),
        (
            "gateway p99 during rollout vs steady (ms)",
            lat(during, 99),
            lat(steady, 99),
            "no rollout, target <= 1.10",
        ),
        ("failed client requests during rollout vs steady", failed(during), failed(steady), "no rollout"),
    ]
    print(f"{'measure':58} {'kubeloop':>10} {'alternative':>12} {'ratio':>7}  alternative is")
    for name, ours, theirs, what in rows:
        ratio = f"{ours / theirs:7.2f}" if theirs else f"{'-':>7}"
        print(f"{name:58} {ours:10.1f} {theirs:12.1f} {ratio}  {what}")


if __name__ == "__main__":
    main()
