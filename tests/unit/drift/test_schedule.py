"""When a drift check is due: intervals and cron expressions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kubeloop.drift.schedule import is_due, parse_cron, validate_schedule


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_interval_schedule() -> None:
    assert is_due(schedule="15m", last_run=None, now=0)
    assert not is_due(schedule="15m", last_run=1000, now=1000 + 899)
    assert is_due(schedule="15m", last_run=1000, now=1000 + 900)


@pytest.mark.parametrize(
    ("schedule", "last", "now", "due"),
    [
        ("*/15 * * * *", "2026-01-05 10:00", "2026-01-05 10:14", False),
        ("*/15 * * * *", "2026-01-05 10:00", "2026-01-05 10:15", True),
        ("0 3 * * *", "2026-01-05 03:00", "2026-01-06 02:59", False),
        ("0 3 * * *", "2026-01-05 03:00", "2026-01-06 03:00", True),
        ("0 0 * * 1", "2026-01-05 00:00", "2026-01-11 23:00", False),  # Monday to Sunday
        ("0 0 * * 1", "2026-01-05 00:00", "2026-01-12 00:00", True),
        ("30 6 1 * *", "2026-01-02 00:00", "2026-02-01 06:29", False),
        ("30 6 1 * *", "2026-01-02 00:00", "2026-02-01 06:30", True),
        ("0 0 1 1 *", "2020-01-02 00:00", "2026-01-01 00:00", True),
    ],
)
def test_cron_schedule(schedule: str, last: str, now: str, due: bool) -> None:
    assert is_due(schedule=schedule, last_run=ts(last), now=ts(now)) is due


def test_cron_day_fields_combine_with_or_when_both_are_set() -> None:
    cron = parse_cron("0 0 13 * 5")  # the 13th, or any Friday
    assert cron.matches_day(datetime(2026, 1, 13, tzinfo=UTC))
    assert cron.matches_day(datetime(2026, 1, 9, tzinfo=UTC))  # a Friday
    assert not cron.matches_day(datetime(2026, 1, 10, tzinfo=UTC))


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("61 * * * *", "minute field '61'"),
        ("* * *", "five fields"),
        ("0s", "must be positive"),
        ("soon", "expected a duration"),
    ],
)
def test_bad_schedules_are_named(schedule: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_schedule(schedule)
