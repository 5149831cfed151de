"""When a drift check is due: an interval ('15m') or a five-field cron expression, evaluated in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from kubeloop.cron import Cron, is_cron, parse_cron
from kubeloop.spec import parse_duration, validate_schedule

__all__ = ["Cron", "is_due", "parse_cron", "validate_schedule"]


def is_due(*, schedule: str, last_run: float | None, now: float) -> bool:
    """True when the schedule has fired since the last run (always true before the first run)."""
    if last_run is None:
        return True
    if is_cron(schedule):
        last = datetime.fromtimestamp(last_run, UTC).replace(second=0, microsecond=0)
        return parse_cron(schedule).next_after(last) <= datetime.fromtimestamp(now, UTC)
    return now - last_run >= parse_duration(schedule)
