"""Labels end to end: real model servers behind the real gateway, a real MLflow registry, real HTTP.

The deployment `iris` serves a one-split tree (right on about 2 rows in 3) and labels requests by
uncertainty. Clients know the true species of what they send; a labeler labels what the policy
chose, through the gateway. Labels are counted, bad ones refused, the CLI imports, exports and
measures them; a worse challenger is rolled back in shadow by the quality check and a better one
promoted, with no failed client request.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest
from labels_harness import Clients, wait_until
from rollout_harness import iris_deployment, kubeloop, rollout_state

from kubeloop.demo.labeler import Labeler
from kubeloop.registry.mlflow_registry import MlflowRegistry
from kubeloop.serving.testing import register_iris
from kubeloop.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MODEL = "iris-clf"
STRATEGY = """
shadow: {percent: 100, duration: 2s, minSamples: 5}
canary: {steps: [50], interval: 2s}
failureLimit: 1
keepPreviousWarm: 1s
checks:
  - {name: error-rate, kind: error-rate, threshold: 0.05, minSamples: 5}
  - {name: quality, kind: quality, metric: accuracy, threshold: 0.01, minLabels: 40}
"""


@dataclass
class World:
    settings: Settings
    workdir: Path
    gateway: str
    versions: dict[str, str]

    def labels(self, body: object, *, deployment: str = "iris", raw: bytes | None = None,
               method: str = "POST") -> httpx.Response:
        url = f"{self.gateway}/v1/models/{deployment}/labels"
        content = raw if raw is not None else json.dumps(body).encode()
        return httpx.request(method, url, content=content, headers={"content-type": "application/json"})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir = tmp_path_factory.mktemp("labels-e2e")

    def register_all(settings: Settings) -> dict[str, str]:
        versions = {"stump": register_iris(settings, name=MODEL, kind="stump")}
        for kind in ("shuffled", "logreg"):
            versions[kind] = register_iris(settings, name=MODEL, kind=kind, aliases=())
        return versions

    policy = "  labeling: {policy: uncertainty, rate: 0.5, maxRate: 1.0}\n"
    with iris_deployment(workdir, model=MODEL, register_all=register_all, spec=policy) as found:
        settings, versions, gateway = found
        yield World(settings, workdir, gateway, versions)


def cli_json(*args: str) -> dict:
    return json.loads(kubeloop(*args).stdout)


def test_labels_are_counted_refused_imported_exported_and_measured(world: World) -> None:
    with Clients(world.gateway, rate=30) as clients:
        wait_until(lambda: len(clients.truth()) >= 80, timeout=60, what="80 answered requests")
    truth = clients.truth()
    ids = list(truth)
    first = [{"request_id": r, "row": 0, "label": truth[r]} for r in ids[:40]]
    assert world.labels(first).json() == {"received": 40, "new": 40, "duplicate": 0, "changed": 0}
    assert world.labels(first).json()["duplicate"] == 40
    other = "setosa" if truth[ids[0]] != "setosa" else "virginica"
    assert world.labels([{"request_id": ids[0], "label": other}]).json()["changed"] == 1
    assert world.labels([{"request_id": "never-answered", "label": "setosa"}]).json()["new"] == 1

    wrong = world.labels([{"request_id": ids[41], "label": "tulip"}, {"request_id": ids[42], "label": 3}])
    assert wrong.status_code == 422 and "[0].label: 'tulip' is not a class of deployment 'iris'" in wrong.text
    assert world.labels(None, raw=b"[{").status_code == 400
    assert "expected a JSON list" in world.labels({"request_id": ids[43]}).json()["error"]
    unknown = world.labels(first, deployment="tulips")
    assert unknown.status_code == 404 and "unknown deployment or model 'tulips'" in unknown.text
    assert world.labels(None, method="GET").status_code == 405
    metrics = httpx.get(f"{world.gateway}/metrics").text
    assert 'kubeloop_labels_received_total{deployment="iris",outcome="new"} 41.0' in metrics
    assert 'kubeloop_labels_received_total{deployment="iris",outcome="refused"} 4.0' in metrics
    assert 'kubeloop_labels_received_total{deployment="(unknown)",outcome="refused"} 1.0' in metrics

    csv = world.workdir / "export.csv"
    pd.DataFrame({"request_id": ids[44:60], "row": 0, "label": [truth[r] for r in ids[44:60]]}).to_csv(csv)
    imported = cli_json("labels", "import", str(csv), "--deployment", "iris", "--json")
    assert imported["new"] == 16 and imported["waiting_for_prediction"] == 1
    bad = world.workdir / "bad.csv"
    bad.write_text(f"request_id,label\n{ids[61]},setosa\n{ids[62]},rose\n")
    refused = kubeloop("labels", "import", str(bad), "--deployment", "iris", check=False)
    assert refused.returncode == 1 and "[1].label: 'rose' is not a class" in refused.stderr
    status = cli_json("labels", "status", "iris", "--json")
    assert status == {"new": 57, "duplicate": 40, "changed": 1, "refused": 6, "stored": 57, "matched": 56,
                      "unmatched": 1}

    queue = world.workdir / "queue.csv"
    kubeloop("labels", "queue", "iris", "--window", "1h", "-o", str(queue))
    chosen = pd.read_csv(queue, dtype={"request_id": str})
    assert not chosen.empty and chosen["inclusion_probability"].between(0.5, 1.0).all()
    labeled = set(ids[:40]) | set(ids[44:60])
    assert not set(chosen["request_id"]) & labeled, "already labeled rows are not queued again"
    assert {"input.petal_length", "prediction", "probability.setosa"} <= set(chosen.columns)

    later = str(time.time() + 3600)  # measured an hour later: the labels still join their predictions
    measured = cli_json("quality", "iris", "--window", "2h", "--at", later, "--json")
    (champion,) = measured["versions"]
    assert champion["version"] == world.versions["stump"] and champion["labeled"] == 56
    accuracy = champion["metrics"]["accuracy"]
    assert 0.4 < accuracy["value"] < 0.95 and accuracy["low"] < accuracy["value"] < accuracy["high"]
    assert set(champion["per_class"]) == {"precision", "recall", "f1"}
    too_late = cli_json("quality", "iris", "--window", "1h", "--at", str(time.time() + 3 * 3600), "--json")
    assert too_late["versions"] == []


def rollout(world: World, version: str, *, exit_code: int) -> tuple[dict, Clients, Labeler]:
    """Roll `version` out with --wait, which exits 0 for a promotion and 3 for a rollback."""
    strategy = world.workdir / "quality.yaml"
    strategy.write_text(STRATEGY)
    with Clients(world.gateway, rate=25) as clients:
        with Labeler(settings=world.settings, gateway=world.gateway, deployment="iris", truth=clients.truth,
                     delay=0.0, period=0.5, since=time.time()) as labeler:
            done = kubeloop("rollout", "start", "iris", "--version", version, "--strategy", str(strategy),
                            "--wait", timeout=300, check=False)
    assert done.returncode == exit_code, done.stderr
    return rollout_state(world.settings, "iris"), clients, labeler


def test_a_worse_challenger_is_rolled_back_in_shadow_by_the_quality_check(world: World) -> None:
    worse = world.versions["shuffled"]
    state, clients, labeler = rollout(world, worse, exit_code=3)
    assert state["phase"] == "rolled-back", [(e["kind"], e["reason"]) for e in state["history"]]
    assert "quality worse than the champion" in state["history"][-1]["reason"]
    assert all(entry["weight"] == 0 for entry in state["history"]), "no step sent it live traffic"
    assert {a.version for a in clients.answers} == {world.versions["stump"]}, "no caller saw the challenger"
    assert all(a.status == 200 for a in clients.answers) and len(clients.answers) > 50
    assert labeler.posted >= 40 and set(labeler.statuses) == {200}
    aliases = dict(MlflowRegistry(tracking_uri=world.settings.tracking_uri).get_model(MODEL).aliases)
    assert aliases["champion"] == world.versions["stump"]


def test_a_better_challenger_passes_the_quality_check_and_is_promoted(world: World) -> None:
    better = world.versions["logreg"]
    state, clients, _ = rollout(world, better, exit_code=0)
    assert state["phase"] == "promoted", [(e["kind"], e["reason"]) for e in state["history"]]
    quality = [c for e in state["history"] for c in e["checks"] if c["name"] == "quality"]
    assert quality[-1]["verdict"] == "pass" and "not worse by more than 0.01" in quality[-1]["reason"]
    assert all(a.status == 200 for a in clients.answers)
    aliases = dict(MlflowRegistry(tracking_uri=world.settings.tracking_uri).get_model(MODEL).aliases)
    assert aliases["champion"] == better
