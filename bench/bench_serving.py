"""Serving benchmark: requests/s and p50/p99 at concurrency 1, 8 and 64 on loopback, with wrk.

Artifacts: the models kubeloop's training pipeline registers (its default logistic regression, a
random forest, and a model with a categorical column), registered by running the training steps,
and the hand-registered native iris logistic regression as the floor. Each pipeline artifact is
served by our KServe runtime beside `mlflow models serve` and a plain scikit-learn `kserve.Model` on
the same artifact; the floor also by our BentoML runtime, each through the kubeloop gateway, and a
plain BentoML service. The in-process predict time of each way of feeding the artifact (the
estimator alone is the limit) is printed first. One server runs at a time; each measurement is
bounded by --duration. Run: `python bench/bench_serving.py [--duration 5] [--workers 2]`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
from serving_inprocess import Timing, print_timings, time_artifact

from kubeloop.errors import KubeloopError
from kubeloop.local.processes import free_port, wait_ready
from kubeloop.serving.core.runtime import RuntimeConfig

HERE = Path(__file__).resolve().parent
MODEL = "iris-classifier"
ROW = [5.1, 3.5, 1.4, 0.2]
COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
V1_BODY = json.dumps({"instances": [ROW]})
# MLflow's scoring server takes the V1 `instances` body too; records keep its column check happy.
MLFLOW_BODY = json.dumps({"instances": [dict(zip(COLUMNS, ROW, strict=True))]})
BENTO_BODY = V1_BODY
CONCURRENCY = (1, 8, 64)
FLOOR = "native (hand-registered)"
# artifact -> training parameters; every one is registered by the training steps themselves.
PIPELINE_ARTIFACTS = {
    "pipeline default": {},
    "pipeline forest": {"estimator": "random_forest"},
    "pipeline categorical": {"data": "categorical"},
}

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

    artifact: str
    target: str
    concurrency: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass(frozen=True)
class Artifact:
    """A registered model to serve: its name and version, its folder, and the request body for it."""

    label: str
    name: str
    version: str
    folder: Path
    body: str


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
        # Workers a supervisor was still respawning can outlive it (uvicorn's, when none got ready).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


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


def measure(artifact: str, target: str, url: str, body: str, *, duration: float,
            scripts: Path) -> list[Result]:
    """Warm up, then one bounded wrk run per concurrency."""
    wrk(url, body, concurrency=8, duration=1, scripts=scripts)
    results = []
    for concurrency in CONCURRENCY:
        raw = wrk(url, body, concurrency=concurrency, duration=duration, scripts=scripts)
        results.append(Result(artifact, target, concurrency, raw["requests"] / raw["seconds"], raw["p50"],
                              raw["p99"], int(raw["non2xx"] + raw["socket_errors"])))
        print(f"  {target:<30} c={concurrency:<3} {results[-1].rps:8.0f} req/s  p50 {raw['p50']:6.2f} ms  "
              f"p99 {raw['p99']:7.2f} ms  errors {results[-1].errors}", flush=True)
    return results


def set_route(gateway: str, token: str, url: str, *, protocol: str) -> None:
    """Point the gateway's `iris` deployment at one backend."""
    document = {"model": MODEL, "stable": {"version": "1", "url": url, "protocol": protocol}}
    headers = {"authorization": f"Bearer {token}"}
    answer = httpx.put(f"{gateway}/admin/routes/iris", json=document, headers=headers)
    answer.raise_for_status()


def categorical_table(folder: Path) -> Path:
    """Iris with a categorical column (petal size as small/medium/large) as a CSV, for the training steps."""
    import pandas as pd
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame
    frame.columns = [c.replace(" (cm)", "_cm").replace(" ", "_") for c in frame.columns]
    sizes = pd.cut(frame["petal_length_cm"], [0.0, 2.5, 5.0, 10.0], labels=["small", "medium", "large"])
    frame.insert(4, "petal_size", sizes.astype(str))
    path = folder / "iris-categorical.csv"
    frame.to_csv(path, index=False)
    return path


def register_artifacts(settings: Any, work: Path, only: list[str] | None) -> list[Artifact]:
    """The floor (registered by hand) and the pipeline artifacts (registered by the training steps)."""
    from kubeloop.registry.mlflow_registry import MlflowRegistry
    from kubeloop.serving.testing import register_iris
    from kubeloop.training.config import TrainingConfig
    from kubeloop.training.outcome import run_in_process

    registry = MlflowRegistry(tracking_uri=settings.tracking_uri)
    artifacts = []
    wanted = [a for a in (FLOOR, *PIPELINE_ARTIFACTS) if not only or a in only]
    for label in wanted:
        if label == FLOOR:
            name, version, body = MODEL, register_iris(settings, name=MODEL, kind="logreg"), V1_BODY
        else:
            params = dict(PIPELINE_ARTIFACTS[label])
            if params.get("data") == "categorical":
                params["data"] = str(categorical_table(work))
            name = label.replace(" ", "-")
            outcome = run_in_process(TrainingConfig.from_params({**params, "model_name": name}),
                                     settings=settings)
            assert outcome.version is not None, outcome.reason
            version, body = outcome.version, ""
        folder = registry.download_verified(name=name, version=version, dst=work / "models" / name)
        artifact = Artifact(label, name, version, folder, body)
        artifacts.append(artifact if body else replace(artifact, body=records_body(folder)))
    return artifacts


def records_body(folder: Path) -> str:
    """One row of the model's input example as a V1 body of objects keyed by column (all servers take it)."""
    example = json.loads((folder / "input_example.json").read_text())
    return json.dumps({"instances": [dict(zip(example["columns"], example["data"][0], strict=True))]})


def in_process(settings: Any, artifacts: list[Artifact]) -> list[Timing]:
    """In-process timings of each way of feeding each artifact."""
    from kubeloop.serving.core.model import load_registered

    timings = []
    for artifact in artifacts:
        model = load_registered(settings, name=artifact.name, ref=artifact.version)
        example = json.loads((artifact.folder / "input_example.json").read_text())
        timings += time_artifact(artifact.label, model, example["data"])
        print(f"{artifact.label}: served through {model.serving_path}", flush=True)
    return timings


Factory = Callable[[Artifact, int], tuple[list[str], dict[str, str], Path | None]]


def factories(env: dict[str, str], workers: int) -> dict[str, tuple[Factory, str, Callable[[Artifact], str]]]:
    """target -> (command factory, ready path, predict path)."""
    python, count = sys.executable, str(workers)

    def ours_kserve(a: Artifact, port: int) -> tuple[list[str], dict[str, str], Path | None]:
        return ([python, "-m", "kubeloop.serving.kserve_runtime", "--deployment", "iris", "--model", a.name,
                 "--ref", a.version, "--port", str(port), "--workers", count], env, None)

    def ours_bentoml(a: Artifact, port: int) -> tuple[list[str], dict[str, str], Path | None]:
        config = RuntimeConfig(deployment="iris", model=a.name, ref=a.version, port=port, workers=workers)
        return ([python, "-m", "bentoml", "serve", "kubeloop.serving.bentoml_runtime.service:KubeloopService",
                 "--host", "127.0.0.1", "--port", str(port)], {**env, **config.to_env()}, None)

    def mlflow_serve(a: Artifact, port: int) -> tuple[list[str], dict[str, str], Path | None]:
        return ([python, "-m", "mlflow", "models", "serve", "-m", str(a.folder), "-h", "127.0.0.1", "-p",
                 str(port), "--workers", count, "--env-manager", "local"], env, None)

    def plain_kserve(a: Artifact, port: int) -> tuple[list[str], dict[str, str], Path | None]:
        return ([python, str(HERE / "peers" / "kserve_plain.py"), "--model_dir", str(a.folder),
                 "--model_name", a.name, "--http_port", str(port), "--workers", count], env, HERE / "peers")

    def plain_bentoml(a: Artifact, port: int) -> tuple[list[str], dict[str, str], Path | None]:
        plain_env = {**env, "PLAIN_MODEL_DIR": str(a.folder), "PLAIN_WORKERS": count}
        return ([python, "-m", "bentoml", "serve", "bento_plain:PlainIris", "--host", "127.0.0.1", "--port",
                 str(port)], plain_env, HERE / "peers")

    ready = "/v2/health/ready"
    v1: Callable[[Artifact], str] = lambda a: f"/v1/models/{a.name}:predict"  # noqa: E731
    return {
        "kubeloop kserve": (ours_kserve, ready, v1),
        "kubeloop bentoml": (ours_bentoml, ready, v1),
        "mlflow models serve": (mlflow_serve, "/health", lambda a: "/invocations"),
        "peer: plain kserve": (plain_kserve, ready, v1),
        "peer: plain bentoml": (plain_bentoml, "/readyz", lambda a: "/predict"),
    }


# Floor targets measured through the gateway too; the pipeline artifacts get the three servers only.
VIA_GATEWAY = ("kubeloop kserve", "kubeloop bentoml", "mlflow models serve")
PIPELINE_TARGETS = ("kubeloop kserve", "mlflow models serve", "peer: plain kserve")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per measurement")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes, for every target")
    parser.add_argument("--only", nargs="*", default=None, help="run only these targets")
    parser.add_argument("--artifacts", nargs="*", default=None,
                        help=f"only these artifacts: {FLOOR!r}, {', '.join(map(repr, PIPELINE_ARTIFACTS))}")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit(
            "wrk is needed: `make bench` installs it (python -m kubeloop.devtools install-bench)"
        )
    from kubeloop.settings import load_settings

    work = Path(tempfile.mkdtemp(prefix="kubeloop-bench-"))
    settings = load_settings({"KUBELOOP_HOME": str(work / "home")}).ensure_dirs()
    print(f"registering the models in {settings.home} ...", flush=True)
    artifacts = register_artifacts(settings, work, args.artifacts)
    timings = in_process(settings, [a for a in artifacts if a.label != FLOOR])
    print_timings(timings)
    env = {**os.environ, "KUBELOOP_HOME": str(settings.home), "KUBELOOP_TRACKING_URI": settings.tracking_uri}
    env.pop("MLFLOW_TRACKING_URI", None)
    results, failed = run_targets(artifacts, env=env, args=args, logs=work / "logs", scripts=work)
    print_timings(timings)
    report(results, workers=args.workers)
    if failed:
        print(f"\nfailed to start (not measured): {', '.join(failed)}; logs in {work / 'logs'}")
    else:
        shutil.rmtree(work, ignore_errors=True)


def run_targets(artifacts: list[Artifact], *, env: dict[str, str], args: argparse.Namespace, logs: Path,
                scripts: Path) -> tuple[list[Result], list[str]]:
    """Serve each artifact by each of its targets in turn (the floor through the gateway too)."""
    token, gateway_port = "bench-token", free_port()
    gateway = f"http://127.0.0.1:{gateway_port}"
    logs.mkdir(exist_ok=True)
    targets = factories(env, args.workers)
    results: list[Result] = []
    failed: list[str] = []
    gateway_env = {**env, "KUBELOOP_GATEWAY_TOKEN": token}
    with server([sys.executable, "-m", "kubeloop.serving.gateway", "--port", str(gateway_port)],
                ready_url=f"{gateway}/healthz", env=gateway_env, log=logs / "gateway.log"):
        for artifact in artifacts:
            names = list(targets) if artifact.label == FLOOR else PIPELINE_TARGETS
            for name in names:
                if args.only and name not in args.only:
                    continue
                factory, ready_path, path = targets[name]
                port = free_port()
                command, target_env, cwd = factory(artifact, port)
                base = f"http://127.0.0.1:{port}"
                body = artifact.body
                if artifact.label == FLOOR and name in ("mlflow models serve", "peer: plain bentoml"):
                    body = MLFLOW_BODY if name == "mlflow models serve" else BENTO_BODY
                print(f"{artifact.label} / {name}: starting ...", flush=True)
                log = logs / f"{artifact.name}-{name.replace(' ', '_').replace(':', '')}.log"
                try:
                    with server(command, ready_url=base + ready_path, env=target_env, cwd=cwd, log=log):
                        results += measure(artifact.label, name, base + path(artifact), body,
                                           duration=args.duration, scripts=scripts)
                        if artifact.label == FLOOR and name in VIA_GATEWAY:
                            # MLflow's scoring server has one route; the gateway sends V1 requests there.
                            protocol = "mlflow" if name == "mlflow models serve" else "kserve"
                            set_route(gateway, token, base, protocol=protocol)
                            results += measure(artifact.label, f"{name} via gateway",
                                               gateway + "/v1/models/iris:predict", body,
                                               duration=args.duration, scripts=scripts)
                except (RuntimeError, KubeloopError) as error:  # wait_ready: BackendUnavailable
                    failed.append(f"{artifact.label} / {name}")
                    tail = log.read_text(errors="replace").strip().splitlines()[-2:]
                    print(f"  {name} FAILED: {error}: {' | '.join(tail)}", flush=True)
    return results, failed


def report(results: list[Result], *, workers: int) -> None:
    """The table per artifact, then the ratios and targets the issue judges them by."""
    by = {(r.artifact, r.target, r.concurrency): r for r in results}
    print(f"\nworkers per server: {workers}; req/s | p50 ms | p99 ms | errors\n")
    header = f"{'artifact':<26}{'target':<34}" + "".join(f"{'c=' + str(c):>30}" for c in CONCURRENCY)
    print(header)
    print("-" * len(header))
    for artifact, target in dict.fromkeys((r.artifact, r.target) for r in results):
        cells = []
        for c in CONCURRENCY:
            r = by.get((artifact, target, c))
            cells.append(f"{r.rps:8.0f} | {r.p50_ms:6.2f} | {r.p99_ms:7.2f} | {r.errors:<3}" if r else "-")
        print(f"{artifact:<26}{target:<34}" + "".join(f"{cell:>30}" for cell in cells))
    print()
    for artifact in dict.fromkeys(r.artifact for r in results):
        ours = by.get((artifact, "kubeloop kserve", 64))
        peers = [r for r in results if r.artifact == artifact and r.concurrency == 64
                 and (r.target.startswith("peer") or r.target == "mlflow models serve")]
        if ours and peers:
            best = max(peers, key=lambda r: r.rps)
            target = 3.0 if artifact != FLOOR else 1.5
            print(f"{artifact}: c=64 ours {ours.rps:.0f} req/s vs best peer {best.target!r} {best.rps:.0f}: "
                  f"{ours.rps / best.rps:.2f}x (target >= {target:g}x); p99 {ours.p99_ms:.2f} vs "
                  f"{best.p99_ms:.2f} ms")
    default64, default1 = by.get(("pipeline default", "kubeloop kserve", 64)), by.get(
        ("pipeline default", "kubeloop kserve", 1))
    if default64 and default1:
        print(f"pipeline default, kubeloop kserve: c=64 {default64.rps:.0f} req/s (target >= 5000), p99 "
              f"{default64.p99_ms:.2f} ms (<= 25), errors {default64.errors} (0); c=1 p50 "
              f"{default1.p50_ms:.2f} ms (<= 1.5)")
    for target in VIA_GATEWAY:
        via = f"{target} via gateway"
        for c in (1, 8):
            direct, routed = by.get((FLOOR, target, c)), by.get((FLOOR, via, c))
            if direct and routed:
                print(f"gateway over {target!r} at c={c}: p50 {direct.p50_ms:.2f} -> {routed.p50_ms:.2f} ms "
                      f"(+{routed.p50_ms - direct.p50_ms:.2f} ms, target <= +1 ms)")


if __name__ == "__main__":
    main()
