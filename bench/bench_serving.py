"""Serving benchmark: requests/s and p50/p99 at concurrency 1, 8 and 64 on loopback, with wrk.

Targets, all serving the same registered iris logistic regression with the same worker count:
our KServe runtime, our BentoML runtime, `mlflow models serve`, each of them through the kubeloop
gateway, and two peers written the way a user would by hand: a minimal scikit-learn `kserve.Model`
under KServe's ModelServer, and a plain BentoML service. One server runs at a time; each
measurement is bounded by --duration. Run: `python bench/bench_serving.py [--duration 5] [--workers 2]`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from kubeloop.local.processes import free_port, wait_ready

HERE = Path(__file__).resolve().parent
MODEL = "iris-classifier"
ROW = [5.1, 3.5, 1.4, 0.2]
COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
V1_BODY = json.dumps({"instances": [ROW]})
# MLflow's scoring server takes the V1 `instances` body too; records keep its column check happy.
MLFLOW_BODY = json.dumps({"instances": [dict(zip(COLUMNS, ROW, strict=True))]})
BENTO_BODY = V1_BODY
CONCURRENCY = (1, 8, 64)

LUA = """
wrk.method = "POST"
wrk.body = [==[%s]==]
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  local non2xx = summary.errors.status
  io.write(string.format('RESULT {"requests": %%d, "seconds": %%f, "p50": %%f, "p99": %%f, "non2xx": %%d, ' ..
    '"socket_errors": %%d}\\n', summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(99) / 1e3, non2xx, summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout))
end
"""


@dataclass(frozen=True)
class Result:
    """One measurement."""

    target: str
    concurrency: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int





@contextmanager
def server(command: list[str], *, ready_url: str, env: dict[str, str], cwd: Path | None = None,
           log: Path) -> Iterator[None]:
    """Run a server process group until the block ends."""
    with log.open("ab") as out:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        wait_ready(ready_url, process, timeout=180.0, log_file=log)
        yield
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wrk(url: str, body: str, *, concurrency: int, duration: float, scripts: Path) -> dict[str, float]:
    script = scripts / f"body-{abs(hash(body))}.lua"
    script.write_text(LUA % body)
    seconds = max(1, round(duration))
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script), url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line.removeprefix("RESULT ")))
    raise RuntimeError(f"wrk gave no result: {done.stdout} {done.stderr}")


def measure(target: str, url: str, body: str, *, duration: float, scripts: Path) -> list[Result]:
    """Warm up, then one bounded wrk run per concurrency."""
    wrk(url, body, concurrency=8, duration=1, scripts=scripts)
    results = []
    for concurrency in CONCURRENCY:
        raw = wrk(url, body, concurrency=concurrency, duration=duration, scripts=scripts)
        results.append(Result(target, concurrency, raw["requests"] / raw["seconds"], raw["p50"], raw["p99"],
                              int(raw["non2xx"] + raw["socket_errors"])))
        print(f"  {target:<26} c={concurrency:<3} {results[-1].rps:8.0f} req/s  p50 {raw['p50']:6.2f} ms  "
              f"p99 {raw['p99']:7.2f} ms  errors {results[-1].errors}", flush=True)
    return results


def set_route(gateway: str, token: str, url: str, *, protocol: str) -> None:
    document = {"model": MODEL, "stable": {"version": "1", "url": url, "protocol": protocol}}
    headers = {"authorization": f"Bearer {token}"}
    answer = httpx.put(f"{gateway}/admin/routes/iris", json=document, headers=headers)
    answer.raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes, for every target")
    parser.add_argument("--only", nargs="*", default=None, help="run only these targets")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit(
            "wrk is needed: `make bench` installs it (python -m kubeloop.devtools install-bench)"
        )
    from kubeloop.registry.mlflow_registry import MlflowRegistry
    from kubeloop.serving.core.runtime import RuntimeConfig
    from kubeloop.serving.testing import register_iris
    from kubeloop.settings import load_settings

    work = Path(tempfile.mkdtemp(prefix="kubeloop-bench-"))
    settings = load_settings({"KUBELOOP_HOME": str(work / "home")}).ensure_dirs()
    print(f"registering the model in {settings.home} ...", flush=True)
    version = register_iris(settings, name=MODEL, kind="logreg")
    model_dir = MlflowRegistry(tracking_uri=settings.tracking_uri).download_verified(
        name=MODEL, version=version, dst=work / "model")
    env = {**os.environ, "KUBELOOP_HOME": str(settings.home), "KUBELOOP_TRACKING_URI": settings.tracking_uri}
    env.pop("MLFLOW_TRACKING_URI", None)
    token = "bench-token"
    gateway_port = free_port()
    gateway = f"http://127.0.0.1:{gateway_port}"
    logs = work / "logs"
    logs.mkdir()
    python = sys.executable
    workers = str(args.workers)

    def ours_kserve(port: int) -> tuple[list[str], dict[str, str], Path | None]:
        return ([python, "-m", "kubeloop.serving.kserve_runtime", "--deployment", "iris", "--model", MODEL,
                 "--ref", version, "--port", str(port), "--workers", workers], env, None)

    def ours_bentoml(port: int) -> tuple[list[str], dict[str, str], Path | None]:
        config = RuntimeConfig(deployment="iris", model=MODEL, ref=version, port=port, workers=args.workers)
        return ([python, "-m", "bentoml", "serve", "kubeloop.serving.bentoml_runtime.service:KubeloopService",
                 "--host", "127.0.0.1", "--port", str(port)], {**env, **config.to_env()}, None)

    def mlflow_serve(port: int) -> tuple[list[str], dict[str, str], Path | None]:
        return ([python, "-m", "mlflow", "models", "serve", "-m", str(model_dir), "-h", "127.0.0.1", "-p",
                 str(port), "--workers", workers, "--env-manager", "local"], env, None)

    def plain_kserve(port: int) -> tuple[list[str], dict[str, str], Path | None]:
        return ([python, str(HERE / "peers" / "kserve_plain.py"), "--model_dir", str(model_dir),
                 "--http_port", str(port), "--workers", workers], env, HERE / "peers")

    def plain_bentoml(port: int) -> tuple[list[str], dict[str, str], Path | None]:
        plain_env = {**env, "PLAIN_MODEL_DIR": str(model_dir), "PLAIN_WORKERS": workers}
        return ([python, "-m", "bentoml", "serve", "bento_plain:PlainIris", "--host", "127.0.0.1", "--port",
                 str(port)], plain_env, HERE / "peers")

    # name -> (command factory, ready path, predict path, body, through the gateway too)
    v1_path, ready = f"/v1/models/{MODEL}:predict", "/v2/health/ready"
    targets = {
        "kubeloop kserve": (ours_kserve, ready, v1_path, V1_BODY, True),
        "kubeloop bentoml": (ours_bentoml, ready, v1_path, V1_BODY, True),
        "mlflow models serve": (mlflow_serve, "/health", "/invocations", MLFLOW_BODY, True),
        "peer: plain kserve": (plain_kserve, ready, v1_path, V1_BODY, False),
        "peer: plain bentoml": (plain_bentoml, "/readyz", "/predict", BENTO_BODY, False),
    }
    results: list[Result] = []
    failed: list[str] = []
    gateway_env = {**env, "KUBELOOP_GATEWAY_TOKEN": token}
    with server([python, "-m", "kubeloop.serving.gateway", "--port", str(gateway_port)],
                ready_url=f"{gateway}/healthz", env=gateway_env, log=logs / "gateway.log"):
        for name, (factory, ready_path, path, body, via_gateway) in targets.items():
            if args.only and name not in args.only:
                continue
            port = free_port()
            command, target_env, cwd = factory(port)
            base = f"http://127.0.0.1:{port}"
            print(f"{name}: starting ...", flush=True)
            log = logs / f"{name.replace(' ', '_').replace(':', '')}.log"
            try:
                with server(command, ready_url=base + ready_path, env=target_env, cwd=cwd, log=log):
                    results += measure(name, base + path, body, duration=args.duration, scripts=work)
                    if via_gateway:
                        # MLflow's scoring server has one route; the gateway sends V1 requests there.
                        protocol = "mlflow" if path == "/invocations" else "kserve"
                        set_route(gateway, token, base, protocol=protocol)
                        results += measure(f"{name} via gateway", gateway + "/v1/models/iris:predict", body,
                                           duration=args.duration, scripts=work)
            except RuntimeError as error:
                failed.append(name)
                tail = log.read_text(errors="replace").strip().splitlines()[-2:]
                print(f"  {name} FAILED: {error}: {' | '.join(tail)}", flush=True)
    report(results, workers=args.workers)
    if failed:
        print(f"\nfailed to start (not measured): {', '.join(failed)}; logs in {logs}")
    else:
        shutil.rmtree(work, ignore_errors=True)


def report(results: list[Result], *, workers: int) -> None:
    """The table, then the ratios the targets are judged by."""
    by = {(r.target, r.concurrency): r for r in results}
    targets = list(dict.fromkeys(r.target for r in results))
    print(f"\nworkers per server: {workers}; one row per target, req/s | p50 ms | p99 ms | errors\n")
    header = f"{'target':<34}" + "".join(f"{'c=' + str(c):>30}" for c in CONCURRENCY)
    print(header)
    print("-" * len(header))
    for target in targets:
        cells = []
        for c in CONCURRENCY:
            r = by.get((target, c))
            cells.append(f"{r.rps:8.0f} | {r.p50_ms:6.2f} | {r.p99_ms:7.2f} | {r.errors:<3}" if r else "-")
        print(f"{target:<34}" + "".join(f"{cell:>30}" for cell in cells))
    ours = [t for t in targets if t.startswith("kubeloop") and "gateway" not in t and (t, 64) in by]
    peers = [t for t in targets if t.startswith("peer") and (t, 64) in by]
    if ours and peers:
        best = max(ours, key=lambda t: by[(t, 64)].rps)
        peer = max(peers, key=lambda t: by[(t, 64)].rps)
        ratio = by[(best, 64)].rps / by[(peer, 64)].rps
        print(f"\nc=64: best ours {best!r} {by[(best, 64)].rps:.0f} req/s vs best peer {peer!r} "
              f"{by[(peer, 64)].rps:.0f} req/s: ratio {ratio:.2f}x (target >= 1.5x); "
              f"p99 {by[(best, 64)].p99_ms:.2f} vs {by[(peer, 64)].p99_ms:.2f} ms; "
              f"errors {by[(best, 64)].errors} vs {by[(peer, 64)].errors}")
        if ("mlflow models serve", 64) in by:
            mlflow_rps = by[("mlflow models serve", 64)].rps
            print(f"c=64: best ours vs mlflow models serve: {by[(best, 64)].rps / mlflow_rps:.2f}x")
    for target in [*ours, "mlflow models serve"]:
        via = f"{target} via gateway"
        for c in (1, 8):
            if (via, c) in by:
                added = by[(via, c)].p50_ms - by[(target, c)].p50_ms
                print(f"gateway over {target!r} at c={c}: p50 {by[(target, c)].p50_ms:.2f} -> "
                      f"{by[(via, c)].p50_ms:.2f} ms (+{added:.2f} ms, target <= +1 ms)")


if __name__ == "__main__":
    main()
