"""Five-field cron expressions (minute hour day-of-month month day-of-week), read by cronsim, in UTC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cronsim import CronSim, CronSimError

# cronsim's error says "Bad <field>"; the field's position lets the message quote what was written.
_FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")


def is_cron(schedule: str) -> bool:
    """A cron expression has several fields; a duration such as '15m' is one word."""
    return len(schedule.split()) > 1


@dataclass(frozen=True)
class Cron:
    """A validated cron expression."""

    expression: str

    def next_after(self, moment: datetime) -> datetime:
        """The first firing strictly after `moment`."""
        firing: datetime = next(CronSim(self.expression, moment))
        return firing

    def matches_day(self, day: datetime) -> bool:
        """Whether it fires on that calendar day (cron's rule: with both day fields set, either matches)."""
        midnight = day.replace(hour=0, minute=0, second=0, microsecond=0)
        return self.next_after(midnight - timedelta(minutes=1)) < midnight + timedelta(days=1)


def parse_cron(expression: str) -> Cron:
    """The expression as a Cron; ValueError naming the bad field and quoting it."""
    parts = expression.split()
    if len(parts) != len(_FIELDS):
        raise ValueError(f"a cron schedule has five fields, got {expression!r}")
    try:
        CronSim(expression, datetime(2000, 1, 1, tzinfo=UTC))
    except CronSimError as error:
        field = str(error).removeprefix("Bad ")
        where = f"{field} field {parts[_FIELDS.index(field)]!r}" if field in _FIELDS else str(error)
        raise ValueError(f"invalid cron schedule {expression!r}: {where} is not valid") from None
    return Cron(expression)
