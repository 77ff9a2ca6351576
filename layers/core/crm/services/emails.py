"""The email pipeline: every email of the product goes through here.

Enqueue (any use case, in its own transaction): `enqueue_email(uow, ...)` writes the ledger
row (status queued) and a `crm.email.requested` event to the outbox; both commit with the
caller's change or neither does. POST /emails is one such caller.

Send (the email worker on q.email, inside consume_batch: the processed-events ledger row and
the email's new status commit together): the row is read; an email no longer queued (or
failed, when a dead letter is redriven) is left alone; a suppressed address or an exhausted
daily quota rejects it with the reason; otherwise the transport sends it and the provider's
message id is recorded (status sent).

Exactly once, as far as the provider allows: a redelivered or republished event finds the
processed-events row (or the email's status) and sends nothing. The window that remains is
send-then-commit: when the worker dies after the provider accepted the message and before
the transaction commits, the event is delivered again and the email is sent a second time.
SMTP carries the same Message-ID both times (the ledger row's id), which receivers and
Mailpit deduplicate on; SES has no idempotency key and assigns a new message id.

A transport failure rolls the attempt back and the consumer framework retries the event
through the delay queues; on the last attempt the email is marked failed (in its own
transaction, so the mark survives the rollback) and the event goes to the dead letters,
from which a redrive sends it again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from crm.domain.emails import (
    SENDABLE,
    Email,
    EmailFilters,
    EmailStatus,
    Purpose,
    Recipient,
    RecipientKind,
    is_address,
    outbound,
)
from crm.domain.errors import NotFound, PlanLimitExceeded, ValidationFailed
from crm.domain.events import CloudEvent
from crm.domain.messaging import describe_error
from crm.domain.pagination import Keyset, Page, PageRequest
from crm.domain.permissions import sees_only_own_records
from crm.domain.plans import Metric
from crm.domain.tenants import Principal
from crm.observability import logger
from crm.ports import UnitOfWork, UnitOfWorkFactory
from crm.ports.messaging import EmailTransport, MessagingUnitOfWork
from crm.services import email_templates
from crm.services.idempotency import claim_key
from crm.services.plans import consume_quota
from crm.services.records import may_see
from crm.services.request_context import RequestContext

EMAIL_REQUESTED = "crm.email.requested"
PURPOSES: tuple[str, ...] = ("message", "invitation", "password_reset", "automation")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _invalid(loc: list[str], msg: str) -> ValidationFailed:
    return ValidationFailed(msg, [{"loc": loc, "msg": msg, "type": "value_error"}])


# ------------------------------------------------------------------ enqueue


def enqueue_email(
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
) -> Email:
    """Queue one email in the caller's transaction (the caller commits). The tenant is the
    unit of work's."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown email purpose {purpose!r}")
    if not is_address(to.address):
        raise _invalid(["body", "to"], f"{to.address!r} is not an email address")
    if text is None and html is None:
        raise _invalid(["body", "text"], "an email needs a text or an HTML body")
    tenant_id = uow.tenant_id
    email = Email(
        tenant_id=tenant_id,
        to=to,
        from_address=from_address,
        purpose=cast(Purpose, purpose),
        subject=subject,
        text=text,
        html=html,
        marketing=marketing,
        sensitive=sensitive,
        created_by=created_by,
        template_id=template_id,
        template_version=template_version,
    )
    uow.emails.add(email)
    record = None if to.kind is None else {"type": to.kind, "id": str(to.record_id)}
    uow.add_event(
        CloudEvent(
            type=EMAIL_REQUESTED,
            tenant_id=tenant_id,
            subject=email.subject_ref,
            data={"email_id": str(email.id), "purpose": purpose, "record": record},
            correlation_id=correlation_id,
            causation_id=causation_id,
        )
    )
    return email


# ------------------------------------------------------------------ the API


@dataclass(frozen=True)
class EmailCommand:
    """Inline content (subject and a body), or a template with the caller's variables."""

    record_type: RecipientKind
    record_id: uuid.UUID
    subject: str | None = None
    text: str | None = None
    html: str | None = None
    template_id: uuid.UUID | None = None
    variables: dict[str, Any] | None = None
    marketing: bool = False


def _recipient(uow: UnitOfWork, principal: Principal, command: EmailCommand) -> Recipient:
    """The record's address; 404 for a record the caller cannot see, 422 without an address."""
    kind, record_id = command.record_type, command.record_id
    address: str | None
    name: str | None
    if kind == "lead":
        lead = uow.leads.get(record_id)
        if lead is None or not may_see(principal, lead.owner_id):
            raise NotFound(f"lead {record_id} not found")
        address, name = lead.email, lead.name
    elif kind == "contact":
        contact = uow.contacts.get(record_id)
        if contact is None or not may_see(principal, contact.owner_id):
            raise NotFound(f"contact {record_id} not found")
        address, name = contact.email, contact.name
    else:
        member = uow.members.get(record_id)
        if member is None:
            raise NotFound(f"user {record_id} not found")
        address, name = member.email, member.name
    if not address:
        raise _invalid(["body", "to", "id"], f"the {kind} has no email address")
    return Recipient(address.lower(), kind, record_id, name)


def send_email(
    command: EmailCommand,
    context: RequestContext,
    *,
    unit_of_work: UnitOfWorkFactory,
    from_address: str,
    idempotency_key: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """POST /emails: queue an email to a record. Returns (email, replayed)."""
    principal = context.principal
    request = {"to": {"type": command.record_type, "id": str(command.record_id)},
               "subject": command.subject, "text": command.text, "html": command.html,
               "template_id": str(command.template_id) if command.template_id else None,
               "variables": command.variables, "marketing": command.marketing}  # fmt: skip
    with unit_of_work(principal.tenant_id) as uow:
        claim = claim_key(uow, idempotency_key, "emails.send", request)
        if claim.replay is not None:
            return claim.replay.body, True
        to = _recipient(uow, principal, command)
        subject, text, html = command.subject or "", command.text, command.html
        template_id = template_version = None
        if command.template_id is not None:
            template = email_templates.load_template(uow, command.template_id)
            variables = email_templates.render_context(
                uow, principal, command.record_type, command.record_id, command.variables
            )
            rendered = email_templates.render_for(uow, template, variables)
            subject, text, html = rendered.subject, rendered.text, rendered.html
            template_id, template_version = template.id, template.version
        email = enqueue_email(
            cast(MessagingUnitOfWork, uow),
            to=to,
            subject=subject,
            text=text,
            html=html,
            purpose="message",
            from_address=from_address,
            marketing=command.marketing,
            created_by=principal.user_id,
            correlation_id=context.correlation_id,
            template_id=template_id,
            template_version=template_version,
        )
        body = email.to_dict(with_body=False)
        claim.complete(202, body)
        uow.commit()
    return body, False


def _visible(principal: Principal, email: Email | None) -> bool:
    if email is None:
        return False
    return not sees_only_own_records(principal) or email.created_by == principal.user_id


def get_email(
    email_id: uuid.UUID, principal: Principal, *, unit_of_work: UnitOfWorkFactory
) -> dict[str, Any]:
    with unit_of_work(principal.tenant_id) as uow:
        email = cast(MessagingUnitOfWork, uow).emails.get(email_id)
    if email is None or not _visible(principal, email):
        raise NotFound(f"email {email_id} not found")
    return email.to_dict()


def list_emails(
    filters: EmailFilters,
    principal: Principal,
    page: PageRequest,
    *,
    unit_of_work: UnitOfWorkFactory,
) -> Page[Email]:
    if sees_only_own_records(principal):
        filters = EmailFilters(**{**filters.__dict__, "created_by": principal.user_id})
    with unit_of_work(principal.tenant_id) as uow:
        rows = cast(MessagingUnitOfWork, uow).emails.page(filters, page.limit + 1, page.after)
    return Page.from_rows(rows, page.limit, lambda e: Keyset(e.created_at, e.id))


# ------------------------------------------------------------------ the worker


class EmailNotSent(Exception):
    """The transport did not take the message; the consumer framework retries the event.
    Raised outside any `except` block on purpose: a socket error in its context would make
    the framework take it for an outage and fail the whole batch forever."""


@dataclass(frozen=True)
class SendOutcome:
    email_id: uuid.UUID | None
    status: str  # sent | rejected | skipped


def deliver_requested(
    event: CloudEvent,
    uow: UnitOfWork,
    *,
    unit_of_work: UnitOfWorkFactory,
    transport: EmailTransport,
    final_attempt: bool = False,
    extra_headers: Callable[[Email], dict[str, str]] | None = None,
    clock: Callable[[], datetime] = _utcnow,
) -> SendOutcome:
    """The email worker's effect for one crm.email.requested event (see the module doc)."""
    if event.type != EMAIL_REQUESTED:
        return SendOutcome(None, "skipped")
    email_id = uuid.UUID(str(event.data["email_id"]))
    messaging = cast(MessagingUnitOfWork, uow)
    email = messaging.emails.get(email_id)
    if email is None or email.status not in SENDABLE:
        logger.info("email not sendable; skipped", extra={"email_id": str(email_id),
                    "status": email.status if email else None})  # fmt: skip
        return SendOutcome(email_id, "skipped")
    now = clock()
    suppressed = messaging.suppressions.reason_for(email.to.address)
    if suppressed is not None:
        reason = f"the address is on the suppression list ({suppressed})"
        messaging.emails.record_status(email_id, EmailStatus.REJECTED, reason, now)
        return SendOutcome(email_id, "rejected")
    try:
        consume_quota(uow, Metric.EMAILS_PER_DAY)
    except PlanLimitExceeded as error:
        reason = f"daily email quota reached: {error}"
        messaging.emails.record_status(email_id, EmailStatus.REJECTED, reason, now)
        return SendOutcome(email_id, "rejected")
    message = outbound(email, extra_headers(email) if extra_headers else None)
    failure: str | None = None
    provider_id = ""
    try:
        provider_id = transport.deliver(message)
    except Exception as error:
        failure = describe_error(error)
    if failure is not None:
        if final_attempt:
            with unit_of_work(event.tenant_id) as side:
                cast(MessagingUnitOfWork, side).emails.record_status(
                    email_id, EmailStatus.FAILED, failure[:500], clock(), count_attempt=True
                )
                side.commit()
        raise EmailNotSent(f"email {email_id} not sent through {transport.name}: {failure}")
    messaging.emails.record_status(
        email_id, EmailStatus.SENT, None, clock(), provider=transport.name,
        provider_message_id=provider_id, count_attempt=True,
    )  # fmt: skip
    return SendOutcome(email_id, "sent")
