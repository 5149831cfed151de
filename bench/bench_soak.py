"""Soak benchmark: a million requests through the gateway to each runtime at a fixed rate, prediction
logging on. Does any process grow, does latency creep?

For each runtime a fresh KUBELOOP_HOME, a registered iris model and the deployment served the way
`kubeloop deploy` serves it (model server, gateway, supervisor); a warm-up; then `--requests`
requests from an open-loop generator in a process of its own (`soak_load.py`) at `--rate` per
second. The resident memory of every process (gateway, supervisor, the server and each worker slot)
is read at the start and after each tenth of the run, with p50/p99 per tenth. Runtimes: `kserve`,
`bentoml`, and `bentoml-recycled`, the same BentoML server with workers replaced every
`--recycle-requests` requests (KUBELOOP_SERVE_MAX_REQUESTS) and, with `--recycle-rss-mb`, above that
resident memory (KUBELOOP_SERVE_MAX_RSS_MB): the remedy set beside the plain one.
Targets: no process grows more than 50 MB; the last tenth's p99 within 1.2x of the first's.
Run: `python bench/bench_soak.py [--requests 1000000] [--rate 500] [--workers 2]
[--runtimes kserve,bentoml,bentoml-recycled] [--recycle-requests 50000] [--recycle-rss-mb 0]`;
`--requests 20000` is a quick check.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil

from kubeloop.local.records import ProcessRecord
from kubeloop.settings import Settings

MODEL = "iris-soak"
SLICES = 10
GROWTH_LIMIT_MB = 50.0
P99_LIMIT = 1.2
LOAD = Path(__file__).with_name("soak_load.py")


@dataclass(frozen=True)
class Soak:
    """One runtime's run: per-tenth latency figures and each process's memory at each tenth."""

    runtime: str
    slices: list[tuple[int, int, float, float]]  # requests, errors, p50 ms, p99 ms
    memory: list[dict[str, float]]  # role -> RSS MB, at the start and after each tenth

    def growth(self) -> dict[str, tuple[float, float]]:
        """Role -> (start MB, end MB) for roles present at both ends."""
        first, last = self.memory[0], self.memory[-1]
        return {role: (first[role], last[role]) for role in first if role in last}


@dataclass(frozen=True)
class Recycling:
    """The BentoML worker-recycling limits a run sets (0: that limit off)."""

    requests: int = 0
    rss_mb: int = 0

    def env(self) -> dict[str, str]:
        """The server's settings for these limits."""
        return {"KUBELOOP_SERVE_MAX_REQUESTS": str(self.requests),
                "KUBELOOP_SERVE_MAX_RSS_MB": str(self.rss_mb)}


def memory(records: dict[str, ProcessRecord]) -> dict[str, float]:
    """RSS (MB) of each process: the recorded ones and each worker slot of the server (by start order)."""
    found: dict[str, float] = {}
    for role, record in records.items():
        try:
            process = psutil.Process(record.pid)
            found[role] = process.memory_info().rss / 1e6
            children = process.children(recursive=True)
            workers = sorted((c for c in children if c.status() != psutil.STATUS_ZOMBIE),
                             key=lambda p: p.create_time())
            for slot, worker in enumerate(workers, 1):
                found[f"{role} worker {slot}"] = worker.memory_info().rss / 1e6
        except psutil.Error:
            continue
    return found


@contextmanager
def deployed(
    settings: Settings, runtime: str, *, workers: int, recycle: Recycling
) -> Iterator[tuple[str, dict[str, ProcessRecord]]]:
    """The model served on `runtime` behind the gateway; the predict URL and the records. Stops all after."""
    from kubeloop.local.deploy import deploy_version
    from kubeloop.local.supervisor_process import supervisor_record
    from kubeloop.local.teardown import stop_local
    from kubeloop.spec import parse_deployment

    name = f"iris-{runtime}"
    spec = parse_deployment({"metadata": {"name": name}, "spec": {
        "model": {"name": MODEL}, "serving": {"runtime": runtime.split("-")[0], "workers": workers}}})
    os.environ |= recycle.env()  # read when the server is spawned
    try:
        server, gateway = deploy_version(settings, spec, version="1")
        supervisor = supervisor_record(settings)
        roles = {"gateway": gateway, "server": server}
        if supervisor is not None:
            roles["supervisor"] = supervisor
        yield f"{gateway.url}/v1/models/{name}:predict", roles
    finally:
        stop_local(settings)
        for key in recycle.env():
            os.environ.pop(key, None)


def load(url: str, *, rate: float, requests: int, out: Path) -> subprocess.Popen[bytes]:
    """The generator, started."""
    command = [sys.executable, str(LOAD), "--url", url, "--rate", str(rate), "--requests", str(requests),
               "--out", str(out)]
    return subprocess.Popen(command)


def soak(settings: Settings, runtime: str, *, requests: int, rate: float, workers: int,
         recycle: Recycling, warmup: int) -> Soak:
    """Warm up, then run the soak while sampling memory after each tenth."""
    with deployed(settings, runtime, workers=workers, recycle=recycle) as (url, roles), \
            tempfile.TemporaryDirectory() as scratch:
        print(f"{runtime}: warm-up ({warmup:,} requests)", flush=True)
        load(url, rate=rate, requests=warmup, out=Path(scratch) / "warmup").wait()
        samples = [memory(roles)]
        print(f"{runtime}: {requests:,} requests at {rate:g}/s", flush=True)
        started, run = time.monotonic(), load(url, rate=rate, requests=requests, out=Path(scratch) / "run")
        for tenth in range(1, SLICES + 1):
            wake = started + tenth * requests / SLICES / rate
            while time.monotonic() < wake and run.poll() is None:
                time.sleep(0.2)
            samples.append(memory(roles))
        if run.wait() != 0:
            raise SystemExit(f"the load generator failed for {runtime}")
        latency = np.load(Path(scratch) / "run.latency.npy")
        status = np.load(Path(scratch) / "run.status.npy")
    return Soak(runtime=runtime, slices=figures(latency, status), memory=samples)


def figures(latency: np.ndarray, status: np.ndarray) -> list[tuple[int, int, float, float]]:
    """Per tenth: requests, errors (not 200), p50 and p99 in ms."""
    rows = []
    for part, codes in zip(np.array_split(latency, SLICES), np.array_split(status, SLICES), strict=True):
        p50, p99 = np.nanpercentile(part, [50, 99]) * 1000
        rows.append((len(part), int((codes != 200).sum()), float(p50), float(p99)))
    return rows


def report(results: list[Soak]) -> None:
    """Tables per runtime, then the verdicts side by side."""
    for result in results:
        print(f"\n{result.runtime}: latency per tenth")
        print(f"{'tenth':>5} {'requests':>9} {'errors':>6} {'p50 ms':>7} {'p99 ms':>7}")
        for index, (count, errors, p50, p99) in enumerate(result.slices, 1):
            print(f"{index:>5} {count:>9,} {errors:>6} {p50:>7.2f} {p99:>7.2f}")
        print(f"{result.runtime}: resident memory")
        print(f"{'process':<22} {'start MB':>9} {'end MB':>9} {'growth':>7}")
        for role, (start, end) in sorted(result.growth().items()):
            print(f"{role:<22} {start:>9.1f} {end:>9.1f} {end - start:>+7.1f}")
    print("\nverdicts (targets: growth <= 50 MB per process, last p99 <= 1.2x first)")
    print(f"{'runtime':<18} {'max growth MB':>13} {'p99 first':>9} {'p99 last':>9} {'last/first':>10} "
          f"{'errors':>6}  ok")
    for result in results:
        growth = max(end - start for start, end in result.growth().values())
        first, last = result.slices[0][3], result.slices[-1][3]
        errors = sum(row[1] for row in result.slices)
        ok = growth <= GROWTH_LIMIT_MB and last <= P99_LIMIT * first and errors == 0
        print(f"{result.runtime:<18} {growth:>13.1f} {first:>9.2f} {last:>9.2f} {last / first:>10.2f} "
              f"{errors:>6}  {'yes' if ok else 'NO'}")
    by_name = {result.runtime: result for result in results}
    if {"bentoml", "bentoml-recycled"} <= set(by_name):
        plain, recycled = by_name["bentoml"], by_name["bentoml-recycled"]
        grown = [max(e - s for s, e in r.growth().values()) for r in (plain, recycled)]
        print(f"\nbentoml recycled vs plain: max growth {grown[1]:.1f} vs {grown[0]:.1f} MB, last p99 "
              f"{recycled.slices[-1][3]:.2f} vs {plain.slices[-1][3]:.2f} ms "
              f"({recycled.slices[-1][3] / plain.slices[-1][3]:.2f}x)")


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--recycle-requests", type=int, default=50_000)
    parser.add_argument("--recycle-rss-mb", type=int, default=0)
    parser.add_argument("--runtimes", default="kserve,bentoml,bentoml-recycled")
    args = parser.parse_args()
    from kubeloop.serving.testing import register_iris
    from kubeloop.settings import load_settings

    warmup = min(5000, max(1000, args.requests // 20))
    with tempfile.TemporaryDirectory(prefix="kubeloop-soak-") as home:
        os.environ["KUBELOOP_HOME"] = home
        settings = load_settings().ensure_dirs()
        register_iris(settings, name=MODEL)
        results = [soak(settings, runtime, requests=args.requests, rate=args.rate, workers=args.workers,
                        recycle=Recycling(requests=args.recycle_requests, rss_mb=args.recycle_rss_mb)
                        if runtime.endswith("-recycled") else Recycling(),
                        warmup=warmup)
                   for runtime in args.runtimes.split(",")]
    report(results)


if __name__ == "__main__":
    main()
