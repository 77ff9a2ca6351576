"""Fires the template's ``ScheduleV2`` schedules (EventBridge Scheduler never fires in moto).

Each enabled schedule gets a thread that sleeps until the next fire time and then invokes the
function with the schedule's ``Input`` (parsed JSON) or ``{}``. Runs of one schedule never
overlap: a run longer than the period delays the next one. ``interval_override`` makes every
schedule of an hour or less fire every that many seconds instead, so tests and demos need not
wait a minute; longer ones (a monthly key rotation) keep their expression.

Supported expressions: ``rate(N minute|minutes|hour|hours|day|days)``, ``at(yyyy-mm-ddThh:mm:ss)``
and ``cron(min hour day-of-month month day-of-week year)`` with ``*``, ``?``, values, names
(JAN-DEC, SUN-SAT), ranges, lists and ``/`` steps. ``L``, ``W`` and ``#`` are refused with a
clear error.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from local.template import Schedule

log = logging.getLogger(__name__)

Invoke = Callable[[str, Any], Any]

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_WEEKDAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
_SEARCH_YEARS = 5


class ScheduleExpressionError(ValueError):
    """A schedule expression the local scheduler cannot fire."""


@dataclass(frozen=True)
class RateExpression:
    period: timedelta

    def next_after(self, moment: datetime) -> datetime:
        return moment + self.period


@dataclass(frozen=True)
class AtExpression:
    when: datetime

    def next_after(self, moment: datetime) -> datetime | None:
        return self.when if self.when > moment else None


@dataclass(frozen=True)
class CronExpression:
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int] | None  # None: "?", any
    months: frozenset[int]
    days_of_week: frozenset[int] | None  # 1 = Sunday ... 7 = Saturday; None: "?", any
    years: frozenset[int] | None  # None: "*", any

    def next_after(self, moment: datetime) -> datetime | None:
        start = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.replace(hour=0, minute=0)
        for _ in range(366 * _SEARCH_YEARS):
            if self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = day.replace(hour=hour, minute=minute)
                        if candidate >= start:
                            return candidate
            day = (day + timedelta(days=1)).replace(hour=0, minute=0)
        return None

    def _day_matches(self, day: datetime) -> bool:
        weekday = (day.isoweekday() % 7) + 1  # Sunday -> 1
        return (
            day.month in self.months
            and (self.years is None or day.year in self.years)
            and (self.days_of_month is None or day.day in self.days_of_month)
            and (self.days_of_week is None or weekday in self.days_of_week)
        )


ScheduleExpression = RateExpression | AtExpression | CronExpression


def parse_schedule_expression(expression: str) -> ScheduleExpression:
    text = expression.strip()
    rate = _RATE.match(text)
    if rate:
        amount, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        if amount <= 0:
            raise ScheduleExpressionError(f"{expression}: the rate must be positive")
        if (amount == 1) != (rate.group(2) == unit):
            raise ScheduleExpressionError(f"{expression}: use '1 {unit}' or 'N {unit}s'")
        return RateExpression(timedelta(seconds=amount * _UNIT_SECONDS[unit]))
    at = _AT.match(text)
    if at:
        return AtExpression(datetime.fromisoformat(at.group(1)).replace(tzinfo=UTC))
    cron = _CRON.match(text)
    if cron:
        return _parse_cron(expression, cron.group(1).split())
    raise ScheduleExpressionError(f"unsupported schedule expression {expression!r}")


def _parse_cron(expression: str, fields: list[str]) -> CronExpression:
    if len(fields) != 6:
        raise ScheduleExpressionError(f"{expression}: cron needs 6 fields, got {len(fields)}")
    minute, hour, day_of_month, month, day_of_week, year = fields
    if (day_of_month == "?") == (day_of_week == "?"):
        raise ScheduleExpressionError(
            f"{expression}: exactly one of day-of-month and day-of-week must be '?'"
        )
    any_day_of_month, any_day_of_week = day_of_month == "?", day_of_week == "?"
    return CronExpression(
        minutes=_field(expression, minute, 0, 59),
        hours=_field(expression, hour, 0, 23),
        days_of_month=None if any_day_of_month else _field(expression, day_of_month, 1, 31),
        months=_field(expression, month, 1, 12, _MONTHS),
        days_of_week=None if any_day_of_week else _field(expression, day_of_week, 1, 7, _WEEKDAYS),
        years=None if year == "*" else _field(expression, year, 1970, 2199),
    )


def _field(
    expression: str, text: str, low: int, high: int, names: list[str] | None = None
) -> frozenset[int]:
    def value(token: str) -> int:
        if names and token.upper() in names:
            return names.index(token.upper()) + 1
        if not token.isdigit():
            if any(marker in token.upper() for marker in ("L", "W", "#")):
                raise ScheduleExpressionError(
                    f"{expression}: 'L', 'W' and '#' are not supported by the local scheduler"
                )
            raise ScheduleExpressionError(f"{expression}: bad cron value {token!r}")
        number = int(token)
        if not low <= number <= high:
            raise ScheduleExpressionError(f"{expression}: {number} not in {low}-{high}")
        return number

    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() else 1
        if step <= 0 or (step_text and not step_text.isdigit()):
            raise ScheduleExpressionError(f"{expression}: bad step in {part!r}")
        if base in ("*", "?"):
            first, last = low, high
        elif "-" in base:
            first_text, last_text = base.split("-", 1)
            first, last = value(first_text), value(last_text)
        else:
            first = value(base)
            last = high if step_text else first
        values.update(range(first, last + 1, step))
    return frozenset(values)


# interval_override compresses schedules that run at least this often; a rarer one (say, a
# monthly signing-key rotation) fired every few seconds would change what it guards under the
# tests' feet.
COMPRESS_UP_TO = timedelta(hours=1)


def compressible(expression: ScheduleExpression) -> bool:
    if isinstance(expression, RateExpression):
        return expression.period <= COMPRESS_UP_TO
    if isinstance(expression, CronExpression):
        first = expression.next_after(datetime(2026, 1, 1))
        second = expression.next_after(first) if first is not None else None
        return second is not None and first is not None and second - first <= COMPRESS_UP_TO
    return True  # at(): fires at once under the override


class Scheduler:
    """Fires schedules on threads until stopped."""

    def __init__(
        self,
        schedules: Iterable[Schedule],
        invoke: Invoke,
        *,
        interval_override: float | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._invoke = invoke
        self._interval = interval_override
        self._clock = clock
        self._stopping = threading.Event()
        self._entries = [
            (schedule, parse_schedule_expression(schedule.expression))
            for schedule in schedules
            if schedule.enabled
        ]
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for schedule, expression in self._entries:
            thread = threading.Thread(
                target=self._run,
                args=(schedule, expression),
                name=f"schedule-{schedule.function_id}-{schedule.event_id}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 15.0) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def _next_fire(self, expression: ScheduleExpression, timezone: str | None) -> datetime | None:
        now = self._clock()
        if self._interval is not None and compressible(expression):
            return now + timedelta(seconds=self._interval)
        if isinstance(expression, CronExpression) and timezone:
            local_now = now.astimezone(ZoneInfo(timezone)).replace(tzinfo=None)
            upcoming = expression.next_after(local_now)
            if upcoming is None:
                return None
            return upcoming.replace(tzinfo=ZoneInfo(timezone)).astimezone(UTC)
        if isinstance(expression, CronExpression):
            upcoming = expression.next_after(now.replace(tzinfo=None))
            return upcoming.replace(tzinfo=UTC) if upcoming else None
        return expression.next_after(now)

    def _run(self, schedule: Schedule, expression: ScheduleExpression) -> None:
        event = json.loads(schedule.input) if schedule.input else {}
        while not self._stopping.is_set():
            fire_at = self._next_fire(expression, schedule.timezone)
            if fire_at is None:
                return
            delay = (fire_at - self._clock()).total_seconds()
            if self._stopping.wait(max(delay, 0.0)):
                return
            try:
                self._invoke(schedule.function_id, event)
            except Exception:
                log.exception("scheduled run of %s failed", schedule.function_id)
            if isinstance(expression, AtExpression) and self._interval is None:
                return
