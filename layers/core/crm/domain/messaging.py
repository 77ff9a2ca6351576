"""Delivery of events to consumers: queue names, the retry schedule, what a failed message
carries in its headers, and the inbound message a consumer framework works on. Pure data."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from crm.domain.events import CloudEvent

# One durable queue per consumer, q.<consumer>, with its dead-letter queue q.<consumer>.dlq.
ConsumerName = Literal["automation", "email", "webhook", "analytics", "realtime", "notification"]
CONSUMERS: tuple[str, ...] = get_args(ConsumerName)

# Headers a failed message carries into its retry queue and, in the end, its dead-letter queue.
# Plain names (no "x-" prefix: the broker reserves that for its own headers such as x-death).
HEADER_CONSUMER = "crm-consumer"
HEADER_ATTEMPTS = "crm-attempts"  # failed attempts so far
HEADER_FIRST_FAILED_AT = "crm-first-failed-at"  # ISO 8601
HEADER_LAST_FAILED_AT = "crm-last-failed-at"  # ISO 8601
HEADER_LAST_ERROR = "crm-last-error"
MAX_ERROR_LENGTH = 2000


def queue_of(consumer: str) -> str:
    return f"q.{consumer}"


def dead_letter_queue_of(consumer: str) -> str:
    return f"q.{consumer}.dlq"


def consumer_of_queue(queue: str) -> str | None:
    """`q.analytics` and `q.analytics.dlq` -> `analytics`; anything else -> None."""
    name = queue.removesuffix(".dlq")
    if not name.startswith("q."):
        return None
    consumer = name[2:]
    return consumer if consumer in CONSUMERS else None


def delay_label(seconds: float) -> str:
    """A short name for a delay, used in its queue's name: 10s, 1m, 10m, 1h, 1500ms."""
    if seconds <= 0:
        raise ValueError("a retry delay must be positive")
    if seconds != int(seconds):
        return f"{round(seconds * 1000)}ms"
    whole = int(seconds)
    if whole % 3600 == 0:
        return f"{whole // 3600}h"
    if whole % 60 == 0:
        return f"{whole // 60}m"
    return f"{whole}s"


def retry_exchange_of(delay_seconds: float) -> str:
    return f"crm.retry.{delay_label(delay_seconds)}"


def retry_queue_of(delay_seconds: float) -> str:
    return f"q.retry.{delay_label(delay_seconds)}"


@dataclass(frozen=True)
class RetrySchedule:
    """The waits between attempts: (10, 60, 600, 3600) means 5 attempts, the last one about
    71 minutes after the first; after that the message goes to the dead-letter queue."""

    delays_seconds: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.delays_seconds or any(delay <= 0 for delay in self.delays_seconds):
            raise ValueError("a retry schedule needs one or more positive delays")

    @classmethod
    def parse(cls, text: str) -> RetrySchedule:
        """From "10,60,600,3600" (seconds, comma-separated), as settings carry it."""
        try:
            return cls(tuple(float(part) for part in text.split(",") if part.strip()))
        except ValueError as error:
            raise ValueError(f"not a retry schedule: {text!r} ({error})") from error

    @property
    def max_attempts(self) -> int:
        return len(self.delays_seconds) + 1

    def delay_after(self, failed_attempts: int) -> float | None:
        """How long to wait after the `failed_attempts`-th failure; None: give up."""
        if failed_attempts < 1:
            raise ValueError("delay_after counts failed attempts from 1")
        if failed_attempts > len(self.delays_seconds):
            return None
        return self.delays_seconds[failed_attempts - 1]


@dataclass(frozen=True)
class FailureRecord:
    """How a message has failed so far; travels in its headers."""

    consumer: str
    attempts: int
    first_failed_at: datetime
    last_failed_at: datetime
    last_error: str

    def to_headers(self) -> dict[str, Any]:
        return {
            HEADER_CONSUMER: self.consumer,
            HEADER_ATTEMPTS: self.attempts,
            HEADER_FIRST_FAILED_AT: self.first_failed_at.isoformat(),
            HEADER_LAST_FAILED_AT: self.last_failed_at.isoformat(),
            HEADER_LAST_ERROR: self.last_error,
        }

    @classmethod
    def from_headers(cls, headers: Mapping[str, Any]) -> FailureRecord | None:
        """The record a retried message carries, or None for a first delivery (or headers
        that are not ours)."""
        try:
            return cls(
                consumer=str(headers[HEADER_CONSUMER]),
                attempts=int(headers[HEADER_ATTEMPTS]),
                first_failed_at=datetime.fromisoformat(str(headers[HEADER_FIRST_FAILED_AT])),
                last_failed_at=datetime.fromisoformat(str(headers[HEADER_LAST_FAILED_AT])),
                last_error=str(headers[HEADER_LAST_ERROR]),
            )
        except (KeyError, ValueError, TypeError):
            return None


def describe_error(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 1] + "…"


@dataclass(frozen=True)
class InboundMessage:
    """One message of a consumer's batch, transport details decoded."""

    queue: str
    body: bytes
    headers: Mapping[str, Any]
    message_id: str | None
    redelivered: bool
    event: CloudEvent | None  # None when the body is not a CRM CloudEvent
    parse_error: str | None = None

    def failure_after(self, consumer: str, error: str, now: datetime) -> FailureRecord:
        """The failure record once this delivery failed too."""
        previous = FailureRecord.from_headers(self.headers)
        if previous is None or previous.consumer != consumer:
            return FailureRecord(consumer, 1, now, now, error)
        return FailureRecord(consumer, previous.attempts + 1, previous.first_failed_at, now, error)

    @property
    def event_id(self) -> uuid.UUID | None:
        return self.event.id if self.event is not None else None
