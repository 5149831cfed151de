"""Rollout benchmark: how fast a failing challenger loses its traffic, and what a rollout costs callers.

Local mode, loopback only, bounded in time: a gateway and three model servers (champion, a good
challenger, one that fails on long petals) under a steady load from a few client threads.
1. Gateway latency (p50/p99 seen by clients) with no rollout, then during a full rollout of the good
   challenger (shadow mirroring 100%, then 10/25/50%, promotion).
   Three full rollouts alternate with steady windows and the samples are pooled (a p99 of a few
   hundred requests is mostly noise); the ratio comes with a bootstrap interval.
2. Rollback speed, repeated: a canary of the failing challenger with failureLimit 1, so the first failed
   check is the rollback decision; measured from that decision to the gateway's routes sending it 0%,
   and to the last request the challenger answered.
Targets: rollback within 1 s of the decision; p99 during a rollout within 10% of steady state.
Run: `python bench/bench_rollout.py [--rate 40] [--steady 15] [--rollouts 3] [--repeats 5]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

MODEL = "iris-bench"


class Load:
    """The bundled traffic generator in a process of its own, recording every request to a file.

    In this process the controller's analysis (parsing prediction logs, scrapes) would hold the GIL
    while client threads wait for answers, and count as gateway latency.
    """

    def __init__(self, url: str, *, rate: float, workdir: Path, threads: int = 3) -> None:
        self.url, self.rate, self.threads = url, rate, threads
        self.rows_file, self.record = workdir / "rows.json", workdir / "samples.jsonl"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Load:
        from kubeloop.serving.testing import iris_rows

        self.rows_file.write_text(json.dumps(iris_rows()))
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kubeloop.demo.traffic",
                "--url",
                self.url,
                "--rows",
                str(self.rows_file),
                "--rate",
                str(self.rate),
                "--threads",
                str(self.threads),
                "--record",
                str(self.record),
            ]
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=60)

    def window(self, start: float, end: float) -> list[Any]:
        from kubeloop.demo.traffic import read_samples

        samples = read_samples(self.record) if self.record.exists() else []
        return [s for s in samples if start <= s.sent_at < end]


class TimedRouter:
    """Wraps the gateway router to note when routes sending the challenger 0% took effect."""

    def __init__(self, router: Any) -> None:
        self.router = router
        self.zeroed_at: list[float] = []

    def set_routes(self, routes: Any, *, change: Any = "step") -> None:
        self.router.set_routes(routes, change=change)
        if routes.canary_weight == 0 and routes.shadow_percent == 0:
            self.zeroed_at.append(time.time())

    def get_routes(self) -> Any:
        return self.router.get_routes()


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


def measure_rollouts(
    controller: Any, load: Load, versions: list[str], *, spec: Any, args: argparse.Namespace
) -> tuple[list, dict[str, list]]:
    """Alternate steady windows with full rollouts (each version of `versions` in turn, promoted):
    the clients' samples with no rollout, and during the shadow and canary phases."""
    steady: list = []
    phases: dict[str, list] = {"shadow": [], "canary": []}
    for round_ in range(args.rollouts):
        steady_from = time.time()
        time.sleep(args.steady)
        steady += load.window(steady_from, time.time())
        during_from = time.time()
        promoted = run_rollout(controller, version=versions[round_ % len(versions)], spec=spec, timeout=120)
        assert promoted.phase.value == "promoted", promoted.history[-1].reason
        canary_from = next(e.at for e in promoted.history if e.phase.value == "canary")
        during = load.window(during_from, time.time())
        phases["shadow"] += [s for s in during if s.sent_at < canary_from]
        phases["canary"] += [s for s in during if s.sent_at >= canary_from]
    return steady, phases


def ratio_interval(ours: list[float], theirs: list[float], q: float, *, resamples: int = 2000) -> str:
    """A 95% bootstrap interval of percentile(ours, q) / percentile(theirs, q)."""
    rng = np.random.default_rng(0)
    a, b = np.asarray(ours), np.asarray(theirs)
    ratios = [
        np.percentile(rng.choice(a, a.size), q) / np.percentile(rng.choice(b, b.size), q)
        for _ in range(resamples)
    ]
    low, high = np.percentile(ratios, [2.5, 97.5])
    return f"95% interval {low:.2f}-{high:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=40.0, help="client requests per second")
    parser.add_argument("--steady", type=float, default=15.0, help="seconds of load before each rollout")
    parser.add_argument("--rollouts", type=int, default=3, help="full rollouts to measure latency over")
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
    bad = register_iris(settings, name=MODEL, kind="erroring", aliases=())
    deployment = parse_deployment({"metadata": {"name": "iris"}, "spec": {"model": {"name": MODEL}}})
    processes.save_deployment(settings, deployment)
    try:
        for version in (champion, good, bad):
            processes.start_server(settings, deployment="iris", model=MODEL, version=version)
        gateway = processes.start_gateway(settings)
        GatewayRouter.from_settings(settings).set_routes("iris", Routes(stable=champion))
        router = TimedRouter(GatewayRouter.from_settings(settings).bound("iris"))
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
                # The old champion stays up: the next round rolls it out again.
                "keepPreviousWarm": "1h",
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
        with Load(url, rate=args.rate, workdir=home) as load:
            time.sleep(3)  # warm-up
            steady, phases = measure_rollouts(controller, load, [good, champion], spec=good_spec, args=args)
            timings = []
            for _ in range(args.repeats):
                router.zeroed_at.clear()
                state = run_rollout(controller, version=bad, spec=bad_spec, timeout=60)
                decision = state.history[-1]
                assert decision.kind == "rollback", decision.reason
                time.sleep(1.0)
                served = [s for s in load.window(state.started_at, time.time()) if s.version == bad]
                # 0 when the challenger answered nothing after the decision.
                last_served = max((s.sent_at + s.elapsed for s in served), default=decision.at)
                last_served = max(last_served, decision.at)
                timings.append((router.zeroed_at[0] - decision.at, last_served - decision.at))
        scrape.close()
    finally:
        for record in processes.server_records(settings, "iris"):
            processes.stop(record)
        processes.stop_gateway(settings)
    report(steady, phases, timings, args)


def report(steady: list, phases: dict, timings: list, args: argparse.Namespace) -> None:
    ok = lambda rows: [1000 * s.elapsed for s in rows if s.status == 200]  # noqa: E731
    failed = lambda rows: sum(1 for s in rows if s.status != 200)  # noqa: E731
    during = phases["shadow"] + phases["canary"]
    routes = [t[0] * 1000 for t in timings]
    served = [t[1] * 1000 for t in timings]
    print(
        f"\nrollout benchmark: {args.rate:g} req/s, {args.rollouts} full rollouts: {len(steady)} requests "
        f"steady, {len(during)} during the rollouts; {len(timings)} rollbacks"
    )
    rows = [
        ("rollback: decision -> routes at 0% (median ms)", statistics.median(routes), 1000.0, "target 1 s"),
        ("rollback: decision -> routes at 0% (max ms)", max(routes), 1000.0, "target 1 s"),
        ("rollback: decision -> last challenger answer (max ms)", max(served), 1000.0, "target 1 s"),
        (
            "gateway p50 during rollout vs steady (ms)",
            percentile(ok(during), 50),
            percentile(ok(steady), 50),
            "no rollout",
        ),
        (
            "gateway p99 during rollout vs steady (ms)",
            percentile(ok(during), 99),
            percentile(ok(steady), 99),
            f"no rollout, target <= 1.10, {ratio_interval(ok(during), ok(steady), 99)}",
        ),
        *(
            (
                f"gateway p99 in the {phase} phase vs steady (ms)",
                percentile(ok(rows), 99),
                percentile(ok(steady), 99),
                f"no rollout, {ratio_interval(ok(rows), ok(steady), 99)}",
            )
            for phase, rows in phases.items()
        ),
        ("failed client requests during rollout vs steady", failed(during), failed(steady), "no rollout"),
    ]
    print(f"{'measure':58} {'kubeloop':>10} {'alternative':>12} {'ratio':>7}  alternative is")
    for name, ours, theirs, what in rows:
        ratio = f"{ours / theirs:7.2f}" if theirs else f"{'-':>7}"
        print(f"{name:58} {ours:10.1f} {theirs:12.1f} {ratio}  {what}")


if __name__ == "__main__":
    main()
