"""When a drift check is due: an interval ('15m') or a five-field cron expression, evaluated in UTC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kubeloop.spec import parse_duration

_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 6),
)


@dataclass(frozen=True)
class Cron:
    """A parsed cron expression: the allowed values of each field."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool
    any_weekday: bool

    def matches_day(self, day: datetime) -> bool:
        """Cron's rule: when both day fields are restricted, either may match."""
        weekday = (day.weekday() + 1) % 7  # cron counts Sunday as 0
        if day.month not in self.months:
            return False
        if self.any_day or self.any_weekday:
            return day.day in self.days and weekday in self.weekdays
        return day.day in self.days or weekday in self.weekdays


def _field(text: str, name: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if body == "*":
            start, end = low, high
        elif "-" in body:
            start, end = (int(v) for v in body.split("-", 1))
        else:
            start = end = int(body)
        if step < 1 or start < low or end > high or start > end:
            raise ValueError(f"cron {name} field {part!r} is out of range {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def parse_cron(expression: str) -> Cron:
    """Parse 'minute hour day-of-month month day-of-week'; ValueError naming the bad field."""
    parts = expression.split()
    if len(parts) != 5:
        raise ValueError(f"a cron schedule has five fields, got {expression!r}")
    try:
        sets = [_field(p, name, lo, hi) for p, (name, lo, hi) in zip(parts, _FIELDS, strict=True)]
    except ValueError as error:
        raise ValueError(f"invalid cron schedule {expression!r}: {error}") from None
    weekdays = frozenset(d % 7 for d in sets[4]) if parts[4] != "*" else sets[4]
    return Cron(
        minutes=sets[0],
        hours=sets[1],
        days=sets[2],
        months=sets[3],
        weekdays=weekdays,
        any_day=parts[2] == "*",
        any_weekday=parts[4] == "*",
    )


def _cron_fires_between(cron: Cron, after: float, until: float) -> bool:
    start = datetime.fromtimestamp(after, UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    end = datetime.fromtimestamp(until, UTC)
    day = start.replace(hour=0, minute=0)
    while day <= end:
        if cron.matches_day(day):
            for hour in sorted(cron.hours):
                for minute in sorted(cron.minutes):
                    moment = day.replace(hour=hour, minute=minute)
                    if start <= moment <= end:
                        return True
        day += timedelta(days=1)
    return False


def validate_schedule(schedule: str) -> None:
    """Raise ValueError unless the schedule is a duration or a cron expression."""
    if len(schedule.split()) > 1:  # a cron expression (a duration is one word)
        parse_cron(schedule)
    elif parse_duration(schedule) <= 0:
        raise ValueError(f"a schedule interval must be positive, got {schedule!r}")


def is_due(*, schedule: str, last_run: float | None, now: float) -> bool:
    """True when the schedule has fired since the last run (always true before the first run)."""
    if last_run is None:
        return True
    if len(schedule.split()) > 1:  # a cron expression (a duration is one word)
        # More than a year without a run: some firing has certainly passed; don't walk the calendar.
        return now - last_run > 366 * 86400 or _cron_fires_between(parse_cron(schedule), last_run, now)
    return now - last_run >= parse_duration(schedule)
