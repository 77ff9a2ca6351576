"""Emails of the pipeline: the ledger row (one per email, with its status), what a transport
is handed (an OutboundEmail), and the pure helpers around them. No I/O."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from html.parser import HTMLParser
from typing import Any, Literal

EMAIL_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")
MESSAGE_ID_DOMAIN = "crm.local"
TENANT_TAG = "tenant_id"  # the SES message tag (and SMTP header X-CRM-Tenant) naming the tenant


class EmailStatus(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    REJECTED = "rejected"  # not sent: suppressed address, daily quota
    FAILED = "failed"  # the transport kept failing; the event went to the dead letters


EMAIL_STATUSES: tuple[str, ...] = tuple(status.value for status in EmailStatus)
# A worker sends an email in these states only: queued, or failed and redriven.
SENDABLE = frozenset({EmailStatus.QUEUED, EmailStatus.FAILED})

Purpose = Literal["message", "invitation", "password_reset", "automation"]
RecipientKind = Literal["lead", "contact", "user"]


@dataclass(frozen=True)
class Recipient:
    address: str
    kind: RecipientKind | None = None  # None: an address with no record
    record_id: uuid.UUID | None = None
    name: str | None = None


@dataclass(frozen=True)
class StatusChange:
    status: str
    reason: str | None
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason, "at": self.at.isoformat()}


@dataclass(frozen=True)
class Email:
    tenant_id: uuid.UUID
    to: Recipient
    from_address: str
    purpose: Purpose
    subject: str
    text: str | None
    html: str | None
    marketing: bool = False
    sensitive: bool = False
    template_id: uuid.UUID | None = None
    template_version: int | None = None
    created_by: uuid.UUID | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    status: EmailStatus = EmailStatus.QUEUED
    status_reason: str | None = None
    provider: str | None = None
    provider_message_id: str | None = None
    attempts: int = 0
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    sent_at: datetime | None = None
    history: tuple[StatusChange, ...] = ()

    @property
    def subject_ref(self) -> str:
        return f"emails/{self.id}"

    def to_dict(self, *, with_body: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": str(self.id),
            "to": self.to.address,
            "record": None
            if self.to.kind is None
            else {"type": self.to.kind, "id": str(self.to.record_id)},
            "from": self.from_address,
            "purpose": self.purpose,
            "marketing": self.marketing,
            "subject": self.subject,
            "template": None
            if self.template_id is None
            else {"id": str(self.template_id), "version": self.template_version},
            "status": self.status.value,
            "status_reason": self.status_reason,
            "provider": self.provider,
            "provider_message_id": self.provider_message_id,
            "attempts": self.attempts,
            "created_by": str(self.created_by) if self.created_by else None,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "sent_at": self.sent_at.isoformat() if self.sent_at else None,
        }
        if with_body:
            body["text"] = self.text
            body["html"] = self.html
            body["history"] = [change.to_dict() for change in self.history]
        return body


@dataclass(frozen=True)
class EmailFilters:
    record_kind: RecipientKind | None = None
    record_id: uuid.UUID | None = None
    statuses: tuple[str, ...] = ()
    template_id: uuid.UUID | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    created_by: uuid.UUID | None = None  # a seller sees the emails they asked for


@dataclass(frozen=True)
class Suppression:
    """An address the tenant must not email, and why (bounce, complaint, unsubscribe, manual)."""

    id: uuid.UUID
    address: str
    reason: str
    email_id: uuid.UUID | None
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "address": self.address,
            "reason": self.reason,
            "email_id": str(self.email_id) if self.email_id else None,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class OutboundEmail:
    """What a transport sends. `message_id` is stable per email (the ledger row's id), so a
    resend after a crash carries the same Message-ID header (SMTP; receivers deduplicate on
    it). SES assigns its own and ignores this one."""

    email_id: uuid.UUID
    tenant_id: uuid.UUID
    from_address: str
    to: str
    subject: str
    text: str
    html: str | None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def message_id(self) -> str:
        return f"<{self.email_id}@{MESSAGE_ID_DOMAIN}>"


def outbound(email: Email, extra_headers: dict[str, str] | None = None) -> OutboundEmail:
    text = email.text if email.text is not None else html_to_text(email.html or "")
    return OutboundEmail(
        email_id=email.id,
        tenant_id=email.tenant_id,
        from_address=email.from_address,
        to=email.to.address,
        subject=email.subject,
        text=text,
        html=email.html,
        headers={
            "X-CRM-Tenant": str(email.tenant_id),
            "X-CRM-Email": str(email.id),
            **(extra_headers or {}),
        },
    )


def is_address(value: str) -> bool:
    return bool(EMAIL_ADDRESS.match(value)) and len(value) <= 320


class _TextExtractor(HTMLParser):
    """The readable text of an HTML body: block elements become line breaks, links keep their
    target, scripts and styles disappear."""

    _BLOCKS = frozenset({"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6",
                         "table", "ul", "ol", "blockquote", "hr"})  # fmt: skip

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        self._href: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head", "title"):
            self._skip += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")
        if tag == "a":
            self._href.append(dict(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head", "title"):
            self._skip = max(0, self._skip - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n")
        if tag == "a" and self._href:
            href = self._href.pop()
            if href and not href.startswith("#"):
                self.parts.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(markup: str) -> str:
    """A plain-text alternative of an HTML body (for the text part when none was given)."""
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).splitlines()]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return text + "\n" if text else ""


# ------------------------------------------------------------------ one-click unsubscribe


def unsubscribe_token(email: Email) -> str:
    """The bearer token of a marketing email's unsubscribe link: its tenant and id (the id is
    a random UUID: unguessable, and it names one email to one address)."""
    return f"{email.tenant_id.hex}{email.id.hex}"


def parse_unsubscribe_token(token: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """(tenant id, email id), or None for anything that is not such a token."""
    if len(token) != 64:
        return None
    try:
        return uuid.UUID(hex=token[:32]), uuid.UUID(hex=token[32:])
    except ValueError:
        return None


def unsubscribe_headers(email: Email, unsubscribe_url: str) -> dict[str, str]:
    """RFC 8058 one-click unsubscribe for marketing emails (RFC 2369 List-Unsubscribe with a
    POST-able https URL); nothing for the others."""
    if not email.marketing or not unsubscribe_url:
        return {}
    return {
        "List-Unsubscribe": f"<{unsubscribe_url}?token={unsubscribe_token(email)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
