"""`kubeloop demo`: the whole loop on one machine, stage by stage, each narrated as it happens.

train v1 -> serve it -> live traffic, labeled late by a labeler that knows the truth -> the inputs
shift -> the drift job sees the drift and the champion's online accuracy fall, and retrains on the
labeled production data through the pipeline runner -> v2 passes the gate -> shadow (v2 wins the
paired quality check), canary, promotion -> a broken v3 is rolled back.
Every stage calls the part of kubeloop that owns it; this module only sequences them and narrates.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from kubeloop.cli.output import console, step
from kubeloop.demo.config import DEPLOYMENT, MODEL, Timings, demo_deployment, timings
from kubeloop.demo.data import DemoData, write_datasets
from kubeloop.demo.labeler import Labeler
from kubeloop.demo.lifecycle import Processes
from kubeloop.demo.summary import (
    Decision,
    alias_decision,
    drift_decision,
    gate_decision,
    quality_decision,
    retrain_decision,
    rollout_decisions,
)
from kubeloop.demo.traffic import Traffic
from kubeloop.demo.watch import check_window, follow_rollout
from kubeloop.drift.job import JobOutcome
from kubeloop.errors import KubeloopError
from kubeloop.local.processes import free_port
from kubeloop.settings import Settings
from kubeloop.spec import ModelDeployment


@dataclass
class DemoRun:
    """What the demo did: the decisions in order, where its records are, how long it took."""

    decisions: list[Decision] = field(default_factory=list)
    places: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def run_demo(settings: Settings, *, fast: bool = False, ui: bool = True, keep: bool = False) -> DemoRun:
    """Run every stage; stops every process it started (also on error or Ctrl-C) unless `keep` and it
    finished: then the loop keeps serving, under the supervisor, until `kubeloop down`."""
    timing, started, result = timings(fast=fast), time.monotonic(), DemoRun()
    with Processes(settings, DEPLOYMENT, keep=keep) as running:
        data = write_datasets(settings)
        v1 = _train_champion(settings, data, result)
        if ui:  # after the first run created the store: two processes must not both create its tables
            running.start_ui()
        deployment = demo_deployment(timing=timing, port=free_port())
        with step(f"serving v{v1} behind the gateway (KServe runtime)"):
            url = running.serve(deployment, version=v1)
        result.places["predict"] = url
        result.places["metrics"] = ", ".join(running.metrics_endpoints())
        rows, truth = _rows(data, shifted=False)
        with (
            Traffic(url, rows=rows, labels=truth, rate=timing.rate, threads=4) as traffic,
            Labeler(settings=settings, gateway=url.split("/v1/")[0], deployment=DEPLOYMENT,
                    truth=traffic.truth, delay=timing.label_delay),
        ):
            v2 = _drift_and_retrain(settings, deployment, data, traffic, timing, result)
            # The drift loop started v2's rollout itself (autoRollout); v3's is started here.
            _roll_out(running, version=v2, timing=timing, result=result, what="retrained v2", start=False)
            v3 = _register_broken(settings, data)
            _roll_out(running, version=v3, timing=timing, result=result, what="broken v3", start=True)
            result.places["metrics"] = ", ".join(running.metrics_endpoints())
        console.print(
            f"traffic: {traffic.total} requests, {traffic.failed} failed, answered by "
            + ", ".join(f"v{v}: {n}" for v, n in sorted(traffic.by_version.items())),
            highlight=False,
        )
        result.decisions.append(alias_decision(aliases=_aliases(settings)))
        if ui:
            with step("waiting for the MLflow UI"):
                url_ui = running.wait_ui()
            result.places["mlflow ui"] = url_ui or f"not started ({running.ui_error})"
    result.places.update(_records(settings))
    result.seconds = time.monotonic() - started
    return result


def _train_champion(settings: Settings, data: DemoData, result: DemoRun) -> str:
    from kubeloop.training.config import TrainingConfig
    from kubeloop.training.outcome import run_in_process

    with step(f"training v1 of {MODEL} on {data.original.name} (logistic regression)"):
        outcome = run_in_process(
            TrainingConfig.from_params({"model_name": MODEL, "data": str(data.original)}), settings=settings
        )
    if outcome.version is None:
        raise KubeloopError(f"the first model was not registered: {outcome.reason}")
    result.decisions.append(gate_decision(version=outcome.version, tags=_tags(settings, outcome.version)))
    console.print(f"  v{outcome.version} is the champion: {outcome.reason}", highlight=False)
    return outcome.version


def _drift_and_retrain(
    settings: Settings,
    deployment: ModelDeployment,
    data: DemoData,
    traffic: Traffic,
    timing: Timings,
    result: DemoRun,
) -> str:
    window, delay = timing.drift_window, timing.label_delay
    with step(f"live traffic on the original distribution for one {window:.0f}s window, "
              f"a stratified sample labeled {delay:.0f}s after each answer"):
        time.sleep(window)
    before = check_window(settings, deployment, html_report=not timing.fast)
    _narrate_check(before, label="original traffic", result=result)
    traffic.use(*_rows(data, shifted=True))
    with step(f"the inputs shift (petals grew); live traffic for one {window:.0f}s window"):
        time.sleep(window)
    with step("drift check and online quality -> retrain on the labeled production data -> rollout"):
        after = check_window(settings, deployment, wait_timeout=timing.retrain_timeout)
    _narrate_check(after, label="shifted traffic", result=result)
    result.places["online quality"] = (f"kubeloop quality {DEPLOYMENT} --window 10m; "
                                       f"kubeloop labels status {DEPLOYMENT}")
    retrain = retrain_decision(outcome=after)
    if retrain is None or after.trail is None or after.trail.model_version is None:
        policy = after.decision.reason if after.decision is not None else "no policy decision"
        raise KubeloopError(f"the drift check did not retrain: {after.result.reason}; {policy}; "
                            f"{after.messages}")
    result.decisions.append(retrain)
    version = after.trail.model_version
    result.decisions.append(gate_decision(version=version, tags=_tags(settings, version)))
    if after.report:
        result.places["drift report"] = after.report
    console.print(f"  v{version} registered; {result.decisions[-1].reason}", highlight=False)
    return version


def _narrate_check(outcome: JobOutcome, *, label: str, result: DemoRun) -> None:
    """Print a check's verdicts (drift, online quality) and add them to the decisions."""
    result.decisions.append(drift_decision(label=label, outcome=outcome))
    console.print(f"  drift check: {outcome.result.status} ({outcome.result.reason})", highlight=False)
    quality = quality_decision(label=label, outcome=outcome)
    if quality is not None:
        result.decisions.append(quality)
        console.print(f"  online quality of v{outcome.version}: {quality.decision} ({quality.reason})",
                      highlight=False)


def _register_broken(settings: Settings, data: DemoData) -> str:
    from kubeloop.demo.broken import register_broken

    with step("registering a deliberately broken v3 (raises on long petals)"):
        return register_broken(settings, model=MODEL, data=data.shifted)


def _roll_out(
    running: Processes, *, version: str, timing: Timings, result: DemoRun, what: str, start: bool
) -> None:
    from kubeloop.drift.loop import rollout_via_cli

    settings = running.settings
    if start:
        with step(f"starting the rollout of {what}"):
            rollout_via_cli(settings, DEPLOYMENT)(version)
    running.note_controller()  # the rollout goes on meanwhile; this only lists its metrics endpoint
    console.print(f"  rollout of {what}: shadow, then canary steps {list(timing.canary_steps)}")
    state = follow_rollout(settings, DEPLOYMENT, version=version, timeout=timing.rollout_timeout)
    result.decisions.extend(rollout_decisions(state))
    console.print(f"  {what}: {state.phase.value} ({state.history[-1].reason})", highlight=False)


def _rows(data: DemoData, *, shifted: bool) -> tuple[list[dict[str, float]], list[int]]:
    """The rows the traffic sends, and the true class of each (what the labeler labels them with)."""
    frame = data.features(shifted=shifted)
    rows = [{str(name): float(value) for name, value in row.items()} for row in frame.to_dict("records")]
    return rows, data.truth(shifted=shifted)


def _tags(settings: Settings, version: str) -> dict[str, str]:
    from kubeloop.registry.mlflow_registry import MlflowRegistry

    return dict(MlflowRegistry.from_settings(settings).get_version(MODEL, version).tags)


def _aliases(settings: Settings) -> dict[str, str]:
    from kubeloop.registry.mlflow_registry import MlflowRegistry

    return {k: str(v) for k, v in MlflowRegistry.from_settings(settings).get_model(MODEL).aliases.items()}


def _records(settings: Settings) -> dict[str, str]:
    return {
        "rollout history": f"kubeloop rollout history {DEPLOYMENT} ({settings.state_dir / 'rollouts'})",
        "drift history": f"kubeloop drift history {DEPLOYMENT}",
        "prediction logs": str(settings.logs_dir),
        "registry": f"kubeloop models show {MODEL} (reopen the UI with `kubeloop up`)",
    }
