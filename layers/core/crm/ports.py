"""The ports services depend on. Adapters implement them; only bootstrap.py and tests choose."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Protocol, Self

from crm.domain.audit import AuditEntry
from crm.domain.dead_letters import DeadLetter, DeadLetterStatus, PageCursor, RedriveSelection
from crm.domain.events import CloudEvent
from crm.domain.leads import Lead
from crm.domain.messaging import FailureRecord, InboundMessage
from crm.domain.tenants import Tenant, User


class TenantRepository(Protocol):
    def add(self, tenant: Tenant) -> None: ...


class UserRepository(Protocol):
    def add(self, user: User, tenant_slug: str) -> None: ...
    def get_by_email(self, email: str) -> User | None: ...


class LeadRepository(Protocol):
    def add(self, lead: Lead) -> None: ...
    def get(self, lead_id: uuid.UUID) -> Lead | None: ...


class AutomationRepository(Protocol):
    def add(
        self,
        automation_id: uuid.UUID,
        version_id: uuid.UUID,
        name: str,
        trigger_event: str,
        definition: dict[str, Any],
        created_by: uuid.UUID | None,
    ) -> None: ...
    def get(self, automation_id: uuid.UUID) -> dict[str, Any] | None: ...
    def active_for_trigger(self, trigger_event: str) -> list[dict[str, Any]]: ...
    def set_state_machine_arn(self, version_id: uuid.UUID, arn: str) -> None: ...


class AutomationRunRepository(Protocol):
    def add_if_absent(
        self,
        run_id: uuid.UUID,
        automation_id: uuid.UUID,
        version_id: uuid.UUID,
        event_id: uuid.UUID,
        execution_name: str,
    ) -> bool: ...
    def set_execution_arn(self, run_id: uuid.UUID, arn: str) -> None: ...


class ActionLedger(Protocol):
    def claim(self, key: str, run_id: uuid.UUID, step_id: str, kind: str) -> dict[str, Any] | None:
        """Reserve `key`; None when reserved now, the earlier result when it was done before."""
        ...

    def record_result(self, key: str, result: dict[str, Any]) -> None: ...


class IdempotencyStore(Protocol):
    def get(self, key: str) -> tuple[str, int, dict[str, Any]] | None: ...
    def put(
        self, key: str, request_hash: str, status_code: int, response: dict[str, Any]
    ) -> None: ...


class AuditLog(Protocol):
    def record(self, entry: AuditEntry) -> None: ...


class ProcessedEventLedger(Protocol):
    def claim(self, consumer: str, event_id: uuid.UUID) -> bool:
        """True the first time `consumer` handles the event in a committed transaction;
        False for a duplicate (which is counted)."""
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
        limit: int,
        after: PageCursor | None,
    ) -> list[DeadLetter]: ...
    def lock_for_redrive(self, selection: RedriveSelection, limit: int) -> list[DeadLetter]: ...
    def count_open(self, selection: RedriveSelection) -> int: ...
    def statuses(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, DeadLetterStatus]: ...
    def mark_redriven(self, ids: list[uuid.UUID], by: uuid.UUID | None) -> None: ...
    def delete(self, letter_id: uuid.UUID) -> None: ...


class UnitOfWork(Protocol):
    """One transaction scoped to one tenant. Events added here reach the outbox atomically."""

    tenants: TenantRepository
    users: UserRepository
    leads: LeadRepository
    automations: AutomationRepository
    runs: AutomationRunRepository
    actions: ActionLedger
    idempotency: IdempotencyStore
    audit: AuditLog
    processed_events: ProcessedEventLedger
    dead_letters: DeadLetterRepository

    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def add_event(self, event: CloudEvent) -> None: ...
    def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, tenant_id: uuid.UUID) -> UnitOfWork: ...


class LoginDirectory(Protocol):
    def tenants_for(self, email: str) -> list[tuple[uuid.UUID, str, uuid.UUID]]: ...


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


class LeadSearchIndex(Protocol):
    def index_lead(self, tenant_id: uuid.UUID, lead: dict[str, Any]) -> None: ...
    def count_by_status(self, tenant_id: uuid.UUID) -> dict[str, int]: ...


class WorkflowEngine(Protocol):
    def ensure_state_machine(self, name: str, definition: dict[str, Any]) -> str: ...
    def start(
        self, state_machine_arn: str, execution_name: str, payload: dict[str, Any]
    ) -> str: ...


class WebhookSender(Protocol):
    def send(
        self, url: str, body: dict[str, Any], *, message_id: str, headers: dict[str, str]
    ) -> int:
        """POST `body`; returns the HTTP status; raises on transport errors and non-2xx."""
        ...


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...
    def verify(self, password_hash: str, password: str) -> bool: ...
