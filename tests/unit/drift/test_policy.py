"""The retrain policy, exhaustively and without a clock: streaks, cooldown and missing data."""

from __future__ import annotations

import itertools

import pytest

from kubeloop.drift import policy
from kubeloop.drift.policy import QualityReading, RetrainDecision, RetrainInputs, WindowOutcome
from kubeloop.spec import DriftSpec

SPEC = DriftSpec(consecutive_windows=2, cooldown=3600)


def decide_retrain(*, spec: DriftSpec, history: list[WindowOutcome], **inputs: object) -> RetrainDecision:
    """The policy on the inputs as keywords (the tests read best that way)."""
    return policy.decide_retrain(spec=spec, inputs=RetrainInputs(history=tuple(history), **inputs))  # type: ignore[arg-type]


def outcomes(
    *statuses: str, version: str = "1", start: float = 0.0, step: float = 900.0
) -> list[WindowOutcome]:
    return [
        WindowOutcome(
            at=start + i * step,
            version=version,
            status=s,  # type: ignore[arg-type]
            drift_share=0.5 if s == "drift" else 0.0,
        )
        for i, s in enumerate(statuses)
    ]


def test_fires_after_the_required_consecutive_drifted_windows() -> None:
    decision = decide_retrain(
        spec=SPEC, history=outcomes("no_drift", "drift", "drift"), version="1", last_retrain_at=None, now=3000
    )

    assert decision.fire
    assert decision.reason.startswith("2 consecutive drifted checks of version 1")


def test_one_drifted_window_is_not_enough() -> None:
    decision = decide_retrain(
        spec=SPEC, history=outcomes("drift", "no_drift", "drift"), version="1", last_retrain_at=None, now=3000
    )

    assert not decision.fire and decision.reason == "1 of 2 consecutive drifted checks"


def test_never_fires_without_drift_over_many_windows() -> None:
    history = outcomes(*["no_drift"] * 500)

    for end in range(1, len(history) + 1):
        assert not decide_retrain(
            spec=SPEC, history=history[:end], version="1", last_retrain_at=None, now=end * 900.0
        ).fire


@pytest.mark.parametrize("missing", ["not_enough_data", "no_reference", "failed"])
def test_missing_data_never_fires_and_breaks_the_streak(missing: str) -> None:
    for history in (
        outcomes(missing, missing, missing),
        outcomes("drift", missing),
        outcomes("drift", missing, "drift"),
    ):
        decision = decide_retrain(spec=SPEC, history=history, version="1", last_retrain_at=None, now=9000)
        assert not decision.fire, history


def test_every_history_of_length_four_fires_exactly_when_it_ends_in_two_drifts() -> None:
    statuses = ["drift", "no_drift", "not_enough_data", "no_reference", "failed"]
    for combo in itertools.product(statuses, repeat=4):
        decision = decide_retrain(
            spec=SPEC, history=outcomes(*combo), version="1", last_retrain_at=None, now=1e4
        )
        assert decision.fire == (combo[-2:] == ("drift", "drift")), combo


def test_cooldown_holds_then_a_fresh_streak_is_needed() -> None:
    history = outcomes(*["drift"] * 12)  # one check every 15 minutes, all drifted
    retrained_at = 1800.0

    during = [
        decide_retrain(spec=SPEC, history=history, version="1", last_retrain_at=retrained_at, now=t)
        for t in (1800.0, 3000.0, 5399.0)
    ]
    after = decide_retrain(
        spec=SPEC, history=history[:8], version="1", last_retrain_at=retrained_at, now=6400
    )
    later = decide_retrain(
        spec=SPEC, history=history[:9], version="1", last_retrain_at=retrained_at, now=7300
    )

    assert not any(d.fire for d in during)
    assert all("cooldown" in d.reason for d in during)
    assert after.fire  # checks at 2700..6300 after the retrain: a fresh streak
    assert later.fire
    stale = decide_retrain(
        spec=SPEC, history=history[:3], version="1", last_retrain_at=retrained_at, now=9000
    )
    assert not stale.fire  # only the 2700 check came after the retrain


def test_only_the_serving_version_counts() -> None:
    history = outcomes("drift", "drift", version="1") + outcomes("drift", version="2", start=2000)

    decision = decide_retrain(spec=SPEC, history=history, version="2", last_retrain_at=None, now=3000)

    assert not decision.fire and decision.reason == "1 of 2 consecutive drifted checks"


def test_disabled_and_empty() -> None:
    disabled = DriftSpec(enabled=False)
    assert not decide_retrain(
        spec=disabled, history=outcomes("drift", "drift", "drift"), version="1", last_retrain_at=None, now=1e4
    ).fire
    empty = decide_retrain(spec=SPEC, history=[], version="1", last_retrain_at=None, now=0)
    assert empty.reason == "no drift checks of version 1 yet"


def test_a_due_retrain_that_cannot_start_does_not_fire_and_says_why() -> None:
    history = outcomes("drift", "drift")

    blocked = decide_retrain(spec=SPEC, history=history, version="1", last_retrain_at=None, now=3000,
                             blocked="no pipeline runner is configured")
    off = decide_retrain(spec=SPEC, history=history, version="1", last_retrain_at=None, now=3000,
                         retraining=False)
    quiet = decide_retrain(spec=SPEC, history=outcomes("no_drift"), version="1", last_retrain_at=None,
                           now=3000, blocked="no pipeline runner is configured")

    assert not blocked.fire and blocked.reason.startswith("retrain due (2 consecutive drifted checks")
    assert blocked.reason.endswith("but not started: no pipeline runner is configured")
    assert not off.fire and off.reason.endswith("but retraining is off")
    assert quiet.reason == "0 of 2 consecutive drifted checks"  # nothing due: the block is not mentioned


QUALITY = DriftSpec(consecutive_windows=2, cooldown=3600,
                    quality={"metric": "accuracy", "maxDrop": 0.05, "minLabels": 200})  # type: ignore[arg-type]


def reading(value: float, half: float, *, labels: int = 400, offline: float | None = 0.95,
            metric: str = "accuracy", higher: bool = True) -> QualityReading:
    return QualityReading(metric=metric, value=value, low=value - half, high=value + half, labels=labels,
                          offline=offline, higher_is_better=higher)


def checked(*readings: QualityReading | None, status: str = "no_drift") -> list[WindowOutcome]:
    return [WindowOutcome(at=900.0 * (i + 1), version="1", status=status, quality=r)  # type: ignore[arg-type]
            for i, r in enumerate(readings)]


def test_a_quality_drop_shown_by_the_whole_interval_fires_without_input_drift() -> None:
    decision = decide_retrain(spec=QUALITY, history=checked(reading(0.80, 0.04)), version="1",
                              last_retrain_at=None, now=1000)

    assert decision.fire and decision.triggers == ("quality",) and decision.trigger == "quality"
    assert decision.reason == ("quality drop: online accuracy 0.800 (0.760-0.840, 400 labels) vs holdout "
                               "0.950, beyond 0.900 (max drop 0.05)")


@pytest.mark.parametrize(("found", "why"), [
    (reading(0.88, 0.04), "quality holds"),  # the interval reaches the limit: a drop is possible, not shown
    (reading(0.60, 0.30, labels=199), "199 labeled answers of version 1, fewer than the 200"),
    (reading(0.60, 0.01, offline=None), "version 1 has no holdout accuracy"),
    (reading(float("nan"), 0.0), "undefined"),
    (None, "no labeled answers of version 1 in the window"),
])
def test_no_retrain_while_a_drop_is_not_shown(found: QualityReading | None, why: str) -> None:
    decision = decide_retrain(spec=QUALITY, history=checked(found), version="1", last_retrain_at=None,
                              now=1000)

    assert not decision.fire and decision.triggers == ()
    assert decision.reason.startswith("0 of 2 consecutive drifted checks; ") and why in decision.reason


def test_losses_drop_upwards_and_only_the_latest_reading_counts() -> None:
    mae = DriftSpec(quality={"metric": "mae", "maxDrop": 0.5, "minLabels": 10})  # type: ignore[arg-type]
    worse = reading(3.0, 0.2, metric="mae", offline=2.0, higher=False)
    fine = reading(2.2, 0.2, metric="mae", offline=2.0, higher=False)

    assert decide_retrain(spec=mae, history=checked(worse), version="1", last_retrain_at=None, now=1e3).fire
    assert not decide_retrain(spec=mae, history=checked(worse, fine), version="1", last_retrain_at=None,
                              now=2e3).fire


def test_both_triggers_fire_together_and_quality_respects_the_cooldown_and_the_off_switch() -> None:
    both = checked(reading(0.7, 0.05), reading(0.7, 0.05), status="drift")

    fired = decide_retrain(spec=QUALITY, history=both, version="1", last_retrain_at=None, now=2000)
    cooling = decide_retrain(spec=QUALITY, history=both, version="1", last_retrain_at=1500, now=2000)
    off = decide_retrain(spec=QUALITY, history=both[:1], version="1", last_retrain_at=None, now=2000,
                         retraining=False)

    assert fired.fire and fired.trigger == "drift+quality"
    assert fired.reason.startswith("2 consecutive drifted checks") and "; quality drop:" in fired.reason
    assert not cooling.fire and "cooldown" in cooling.reason
    assert not off.fire and off.reason.startswith("would retrain (quality drop")


def test_without_a_quality_trigger_the_readings_are_ignored() -> None:
    decision = decide_retrain(spec=SPEC, history=checked(reading(0.1, 0.01)), version="1",
                              last_retrain_at=None, now=1000)

    assert not decision.fire and decision.reason == "0 of 2 consecutive drifted checks"
