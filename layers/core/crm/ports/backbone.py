"""Ports of the event backbone: publishing, consumer retries and dead letters, redrive, the
processed-event ledger, and outbound mail."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Protocol

from crm.domain.dead_letters import DeadLetter, DeadLetterStatus, RedriveSelection
from crm.domain.events import CloudEvent
from crm.domain.messaging import FailureRecord, InboundMessage
from crm.domain.pagination import Page, PageRequest
from crm.ports.audit import AuditLog
from crm.ports.transaction import TransactionScope


class ProcessedEventLedger(Protocol):
    def claim(self, consumer: str, event_id: uuid.UUID) -> bool:
        """True the first time `consumer` handles the event in a committed transaction;
        False for a duplicate (which is counted)."""
        ...

    def handled(self, consumer: str, event_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
        """Those of `event_ids` that `consumer` has handled."""
        ...

    def record(self, consumer: str, deliveries: Mapping[uuid.UUID, int]) -> set[uuid.UUID]:
        """Record events as handled, each delivered `deliveries[id]` times in this batch;
        returns those recorded for the first time (every other delivery is a duplicate)."""
        ...


class DeadLetterRepository(Protocol):
    def add(self, letter: DeadLetter) -> bool: ...
    def get(self, letter_id: uuid.UUID) -> DeadLetter | None: ...
    def page(
        self,
        *,
        status: DeadLetterStatus,
        consumer: str | None,
        event_type: str | None,
        page: PageRequest,
    ) -> Page[DeadLetter]: ...
    def lock_for_redrive(self, selection: RedriveSelection, limit: int) -> list[DeadLetter]: ...
    def count_open(self, selection: RedriveSelection) -> int: ...
    def statuses(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, DeadLetterStatus]: ...
    def mark_redriven(self, ids: list[uuid.UUID], by: uuid.UUID | None) -> None: ...
    def delete(self, letter_id: uuid.UUID) -> None: ...


class Mailer(Protocol):
    def send(self, to: str, subject: str, text: str, html: str | None = None) -> str:
        """Hand one message to the mail service; returns its message id, raises on failure."""
        ...


class EventPublisher(Protocol):
    def publish(self, events: Sequence[CloudEvent]) -> None:
        """Publish with broker confirms; raises if any event was not confirmed."""
        ...


class FailedMessagePublisher(Protocol):
    """Where a consumer sends a message it failed on (publisher confirms; raises if not
    confirmed)."""

    def retry(self, message: InboundMessage, failure: FailureRecord, delay_seconds: float) -> None:
        """Back to `message.queue` after `delay_seconds`, carrying `failure` in its headers."""
        ...

    def dead_letter(self, message: InboundMessage, failure: FailureRecord) -> None:
        """To the dead-letter queue of `message.queue`, carrying `failure` in its headers."""
        ...


class Redriver(Protocol):
    def redrive(self, deliveries: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Publish each (queue, CloudEvent envelope) straight to that queue, as a first
        delivery; raises unless the broker confirmed them all."""
        ...


class DeadLettersUnitOfWork(TransactionScope, Protocol):
    """Dead letters and the audit log (crm.services.dead_letters)."""

    @property
    def dead_letters(self) -> DeadLetterRepository: ...
    @property
    def audit(self) -> AuditLog: ...
