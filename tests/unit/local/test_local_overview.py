"""`kubeloop status` shows each deployment with its rollout and its retrain trail."""

from __future__ import annotations

import json

from kubeloop.cli import main
from kubeloop.drift.policy import WindowOutcome
from kubeloop.drift.state import DriftState, TrailEntry, save_state, state_path
from kubeloop.local.overview import deployments_status
from kubeloop.local.processes import save_deployment
from kubeloop.rollout.file_store import FileStateStore
from kubeloop.rollout.state import initial_state
from kubeloop.settings import Settings
from kubeloop.spec import parse_deployment


def deploy_iris(settings: Settings) -> None:
    deployment = parse_deployment({"metadata": {"name": "iris"}, "spec": {"model": {"name": "iris-clf"}}})
    save_deployment(settings, deployment)
    rollout = initial_state(deployment="iris", model="iris-clf", champion="1", challenger="2",
                            spec=deployment.spec.rollout, now=100.0)
    FileStateStore(settings.state_dir).save(rollout)
    trail = TrailEntry(at=50.0, source_version="1", report="runs:/r/drift/report.html",
                       reason="drift in 2 consecutive windows", pipeline="training", run_id="run-7",
                       run_state="succeeded", model_version="2", rollout="started")
    drift = DriftState(history=(WindowOutcome(at=40.0, version="1", status="drift", drift_share=0.75),),
                       trail=(trail,), last_retrain_at=50.0)
    save_state(state_path(settings.state_dir, "iris"), drift)


def test_a_deployment_shows_its_rollout_and_its_retrain_trail(settings: Settings) -> None:
    deploy_iris(settings)

    key, deployments = deployments_status(settings)

    assert key == "deployments" and [d["name"] for d in deployments] == ["iris"]
    iris = deployments[0]
    assert iris["servers"] == []
    assert "gateway is not running" in iris["routes"]["error"]
    assert iris["rollout"]["phase"] == "shadow" and iris["rollout"]["challenger"] == "2"
    assert iris["drift"]["last_check"]["status"] == "drift"
    retrain = iris["drift"]["trail"][0]
    assert retrain["run_id"] == "run-7" and retrain["model_version"] == "2"


def test_status_json_carries_the_deployments(settings: Settings, capsys) -> None:
    deploy_iris(settings)
    main(["status", "--json"])
    state = json.loads(capsys.readouterr().out)
    assert state["deployments"][0]["drift"]["trail"][0]["source_version"] == "1"
    assert "models" in state


def test_no_deployments_is_an_empty_list(settings: Settings) -> None:
    assert deployments_status(settings) == ("deployments", [])
