"""Ports of the messaging context: the email ledger, the suppression list, the transports, and
the narrow unit of work the email services use.

Any use case that sends an email enqueues it in its own transaction through
`crm.services.emails.enqueue_email(uow, ...)` (the `EmailRequests` port below is that
function's shape): the ledger row and its `crm.email.requested` event commit with the
caller's change or not at all, and the email worker (q.email) sends it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from crm.domain.email_templates import EmailTemplate
from crm.domain.emails import Email, EmailFilters, OutboundEmail, Recipient, Suppression
from crm.domain.events import CloudEvent
from crm.domain.pagination import Keyset


class EmailTransport(Protocol):
    """Hands one message to the mail service (SES v2 or an SMTP server)."""

    name: str  # "ses" | "smtp": recorded on the email

    def deliver(self, message: OutboundEmail) -> str:
        """The provider's message id; raises when the message was not accepted."""
        ...


class EmailRepository(Protocol):
    def add(self, email: Email) -> None: ...
    def get(self, email_id: uuid.UUID, *, for_update: bool = False) -> Email | None: ...
    def page(self, filters: EmailFilters, limit: int, after: Keyset | None) -> list[Email]:
        """Newest first (created_at, id), without bodies or history."""
        ...

    def record_status(
        self,
        email_id: uuid.UUID,
        status: str,
        reason: str | None,
        at: datetime,
        *,
        provider: str | None = None,
        provider_message_id: str | None = None,
        count_attempt: bool = False,
    ) -> None:
        """New status (and history row); a sent sensitive email loses its body."""
        ...

    def for_records(
        self, kind: str, record_ids: Sequence[uuid.UUID], after: Keyset | None, limit: int
    ) -> list[Email]:
        """A record's emails, newest first (the timeline)."""
        ...

    def scrub(self, address: str, record_ids: Sequence[uuid.UUID]) -> int:
        """GDPR erasure of the emails to an address or records; how many."""
        ...


class SuppressionRepository(Protocol):
    def reason_for(self, address: str) -> str | None:
        """Why the address is suppressed, or None."""
        ...

    def add(self, address: str, reason: str, email_id: uuid.UUID | None) -> bool: ...
    def remove(self, address: str) -> bool: ...
    def page(self, limit: int, after: Keyset | None) -> list[Suppression]:
        """Newest first (created_at, id)."""
        ...


class EmailTemplateRepository(Protocol):
    def add(self, template: EmailTemplate) -> None: ...
    def get(self, template_id: uuid.UUID, *, for_update: bool = False) -> EmailTemplate | None:
        """The live template at its current version."""
        ...

    def get_version(self, template_id: uuid.UUID, version: int) -> EmailTemplate | None: ...
    def page(self, limit: int, after: Keyset | None) -> list[EmailTemplate]: ...
    def save_version(self, template: EmailTemplate) -> None: ...
    def delete(self, template_id: uuid.UUID) -> None: ...


class MessagingUnitOfWork(Protocol):
    """What the email services touch in one tenant's transaction."""

    tenant_id: uuid.UUID
    emails: EmailRepository
    suppressions: SuppressionRepository
    email_templates: EmailTemplateRepository

    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def add_event(self, event: CloudEvent) -> None: ...
    def commit(self) -> None: ...


class EmailRequests(Protocol):
    """Enqueue one email in the caller's transaction (crm.services.emails.enqueue_email)."""

    def __call__(
        self,
        uow: MessagingUnitOfWork,
        *,
        to: Recipient,
        subject: str,
        text: str | None,
        html: str | None,
        purpose: str,
        from_address: str,
        marketing: bool = False,
        sensitive: bool = False,
        created_by: uuid.UUID | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        template_id: uuid.UUID | None = None,
        template_version: int | None = None,
    ) -> Email: ...
