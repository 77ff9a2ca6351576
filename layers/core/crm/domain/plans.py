"""Plans and usage. The limits are data (tables plans, plan_limits, usage_metrics); this module
only names the metrics the code enforces and computes the periods counters run over."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import NamedTuple


class Metric(StrEnum):
    USERS = "users"
    LEADS = "leads"
    PIPELINES = "pipelines"
    ACTIVE_AUTOMATIONS = "active_automations"
    AUTOMATION_RUNS_PER_MONTH = "automation_runs_per_month"
    EMAILS_PER_DAY = "emails_per_day"
    SMS_PER_DAY = "sms_per_day"
    API_REQUESTS_PER_MINUTE = "api_requests_per_minute"


class Period(StrEnum):
    NONE = "none"  # a level (how many users exist), not a counter that restarts
    MINUTE = "minute"
    DAY = "day"
    MONTH = "month"


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def period_start(period: Period, now: datetime) -> datetime:
    """The start of the period containing `now` (UTC); EPOCH for levels."""
    now = now.astimezone(UTC)
    if period is Period.NONE:
        return EPOCH
    if period is Period.MINUTE:
        return now.replace(second=0, microsecond=0)
    if period is Period.DAY:
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def period_end(period: Period, start: datetime) -> datetime | None:
    if period is Period.NONE:
        return None
    if period is Period.MINUTE:
        return start + timedelta(minutes=1)
    if period is Period.DAY:
        return start + timedelta(days=1)
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return start.replace(year=year, month=month)


@dataclass(frozen=True)
class Limit:
    metric: str
    period: Period
    max_value: int | None  # None: unlimited


@dataclass(frozen=True)
class Usage:
    metric: str
    period: Period
    used: int
    limit: int | None
    period_start: datetime | None = None
    resets_at: datetime | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "used": self.used,
            "limit": self.limit,
            "remaining": None if self.limit is None else max(self.limit - self.used, 0),
            "period": self.period.value,
            "period_start": self.period_start.isoformat() if self.period_start else None,
            "resets_at": self.resets_at.isoformat() if self.resets_at else None,
        }


class CounterRow(NamedTuple):
    """A metric's limit under the tenant's plan and its counter in the current period."""

    metric: str
    period: Period
    max_value: int | None
    period_start: datetime | None
    used: int
