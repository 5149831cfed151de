"""The demo's labeler and the decision rows about labels: what is due for labeling, and how quality reads."""

from __future__ import annotations

import time
from pathlib import Path

from kubeloop.analysis.results import CheckResult, Verdict
from kubeloop.demo.labeler import Labeler
from kubeloop.demo.summary import quality_decision, retrain_decision, rollout_decisions
from kubeloop.drift.job import JobOutcome
from kubeloop.drift.policy import QualityReading, RetrainDecision
from kubeloop.drift.results import DriftResult
from kubeloop.drift.state import TrailEntry
from kubeloop.labels import Label, LocalLabelStore
from kubeloop.predlog import LogStore, PredictionRecord
from kubeloop.rollout.state import HistoryEntry, Phase, initial_state
from kubeloop.settings import load_settings
from kubeloop.spec import RolloutSpec

NOW = time.time()  # log files are found by their age: the answers are recent


def test_the_labeler_labels_the_chosen_rows_late_and_only_once(tmp_path: Path) -> None:
    settings = load_settings({"KUBELOOP_HOME": str(tmp_path)}).ensure_dirs()
    answers = [("old", 1.0, NOW - 10), ("recent", 1.0, NOW - 0.5), ("skipped", 0.0, NOW - 10),
               ("unknown", 1.0, NOW - 10), ("labeled", 1.0, NOW - 10)]
    store = LogStore(settings.logs_dir)
    store.write([PredictionRecord(request_id=rid, timestamp=at, deployment="iris", model="m", version="1",
                                  role="champion", inputs=[{"x": 1.0}], outputs=[0], extra={"inclusion": [p]})
                 for rid, p, at in answers])
    store.close()
    LocalLabelStore.from_settings(settings).put("iris", [Label(request_id="labeled", label=0)])
    truth = {"old": 2, "recent": 1, "skipped": 0, "labeled": 0}
    labeler = Labeler(settings=settings, gateway="http://127.0.0.1:9", deployment="iris", truth=lambda: truth,
                      delay=2.0, since=NOW - 60)

    due = labeler.due(now=NOW)

    # `recent` was answered 0.5 s ago (labels come later), `skipped` was not chosen (probability 0),
    # `unknown` has no truth, `labeled` has its label already.
    assert due == [{"request_id": "old", "row": 0, "label": 2}]
    LocalLabelStore.from_settings(settings).put("iris", [Label(request_id="old", label=2)])
    later = LogStore(settings.logs_dir)  # a second server's file, and the lines after the ones already read
    later.write([PredictionRecord(request_id="new", timestamp=NOW - 5, deployment="iris", model="m",
                                  version="1", role="champion", inputs=[{"x": 1.0}], outputs=[1],
                                  extra={"inclusion": [1.0]})])
    later.close()
    truth["new"] = 1
    # `recent` is 2 s old now, and `new` was read from the file written since the last look.
    assert sorted(labeler.due(now=NOW + 2), key=str) == [{"request_id": "new", "row": 0, "label": 1},
                                                         {"request_id": "recent", "row": 0, "label": 1}]


def outcome(reading: QualityReading | None, reason: str) -> JobOutcome:
    return JobOutcome(deployment="iris", model="m", version="1", window=10.0,
                      result=DriftResult(status="drift", reason="4 of 4", rows=300),
                      decision=RetrainDecision(fire=True, reason=reason, triggers=("quality",)),
                      quality=reading)


def test_quality_rows_say_whether_the_champion_dropped_and_what_the_retrain_learnt_from() -> None:
    reading = QualityReading(metric="accuracy", value=0.7, low=0.63, high=0.77, labels=160, offline=1.0)
    dropped = quality_decision(label="shifted traffic", outcome=outcome(reading, "quality drop: ..."))
    trail = TrailEntry(at=NOW, source_version="1", report="r", reason="quality drop", pipeline="training",
                       run_id="run-1", run_state="succeeded", model_version="2", trigger="drift+quality",
                       train_on="labeled", labels_since=NOW - 10, labels_until=NOW, labeled_rows=160)
    retrain = retrain_decision(outcome=JobOutcome(**{**outcome(reading, "").__dict__, "trail": trail}))

    assert dropped is not None and dropped.row()[:3] == ("online quality (shifted traffic)", "v1",
                                                        "accuracy 0.70: dropped")
    assert quality_decision(label="x", outcome=outcome(None, "")) is None
    assert retrain is not None and retrain.stage == "retrain (drift+quality)"
    assert retrain.reason.startswith("trained on 160 labeled answers of ")


def check(verdict: Verdict) -> CheckResult:
    return CheckResult(name="quality", kind="quality", verdict=verdict, value=0.2, threshold=0.02, samples=40,
                       reason=f"{verdict.value}: accuracy +0.30 on 40 pairs")


def test_the_first_verdict_of_the_quality_check_gets_its_own_row() -> None:
    history = [
        HistoryEntry(at=1.0, kind="hold", phase=Phase.SHADOW, weight=0, step=0, reason="waiting for labels",
                     checks=(check(Verdict.INCONCLUSIVE),)),
        HistoryEntry(at=2.0, kind="advance", phase=Phase.CANARY, weight=25, step=1, reason="shadow passed",
                     checks=(check(Verdict.PASS),)),
        HistoryEntry(at=3.0, kind="promote", phase=Phase.PROMOTED, weight=100, step=2, reason="last step",
                     checks=(check(Verdict.PASS),)),
    ]
    start = initial_state(deployment="iris", model="m", champion="1", challenger="2", spec=RolloutSpec(),
                          now=0.0)
    state = start.model_copy(update={"phase": Phase.PROMOTED, "history": tuple(history)})

    rows = [d.row()[:3] for d in rollout_decisions(state)]

    assert rows == [("quality check (paired)", "v2", "pass"), ("rollout (canary)", "v2", "advance 25%"),
                    ("rollout (promoted)", "v2", "promote 100%")]
