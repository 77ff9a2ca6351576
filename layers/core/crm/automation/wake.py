"""When a `delay_until` step wakes up (pure): a date or date-time value plus an offset, or the
next weekday at a time of day, in the tenant's time zone. The result is what a Wait state's
TimestampPath reads: RFC 3339 in UTC, to the second."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from crm.automation.evaluator import MISSING, lookup

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def wake_time(until: dict[str, Any], data: dict[str, Any], now: datetime, timezone: str) -> str:
    """The wake-up moment; `now` (no wait) when the field is empty or not a date."""
    zone = ZoneInfo(timezone)
    moment: datetime | None
    if until.get("weekday"):
        moment = _next_weekday(until["weekday"], until.get("time") or "09:00", now, zone)
    else:
        moment = _moment(lookup(data, until["field"]), zone)
        if moment is not None:
            moment += timedelta(seconds=int(until.get("offset_seconds") or 0))
    if moment is None or moment < now:
        moment = now
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _moment(value: Any, zone: ZoneInfo) -> datetime | None:
    """A date (midnight in the tenant's zone) or a date-time (its own offset, else the zone)."""
    if value is MISSING or not isinstance(value, str) or not value:
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time.min, tzinfo=zone)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


def _next_weekday(weekday: str, at: str, now: datetime, zone: ZoneInfo) -> datetime:
    """The first `weekday` at `at` (HH:MM, the zone's wall clock) strictly after `now`."""
    local_now = now.astimezone(zone)
    hour, minute = (int(part) for part in at.split(":"))
    days_ahead = (WEEKDAYS.index(weekday) - local_now.weekday()) % 7
    candidate = datetime.combine(
        local_now.date() + timedelta(days=days_ahead), time(hour, minute), tzinfo=zone
    )
    if candidate <= local_now:
        candidate += timedelta(days=7)
    return candidate
