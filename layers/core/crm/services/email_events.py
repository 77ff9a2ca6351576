"""SES notifications of the pipeline's configuration set (SNS -> EmailEventsFunction): a
delivery, bounce or complaint moves the email's status, and a hard (permanent) bounce or a
complaint puts the address on the tenant's suppression list, which every later send checks.

The tenant and the email come from the message tags the SES transport put on every message
(tenant_id, email_id); a notification without them is not the pipeline's and is ignored.
A repeated notification is harmless: the status and the suppression are set, not added."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from crm.domain.emails import TENANT_TAG, EmailStatus
from crm.observability import logger
from crm.ports import UnitOfWorkFactory
from crm.ports.messaging import MessagingUnitOfWork


@dataclass(frozen=True)
class SesNotification:
    tenant_id: uuid.UUID
    email_id: uuid.UUID
    kind: str  # Delivery | Bounce | Complaint
    permanent: bool  # a hard bounce (or a complaint: treated the same)
    recipients: tuple[str, ...]
    detail: str
    at: datetime

    @classmethod
    def parse(cls, message: dict[str, Any]) -> SesNotification | None:
        """From an SES event publishing record (eventType) or notification (notificationType);
        None when it is not one of the pipeline's messages."""
        kind = str(message.get("eventType") or message.get("notificationType") or "")
        tags = (message.get("mail") or {}).get("tags") or {}
        try:
            tenant_id = uuid.UUID(str((tags.get(TENANT_TAG) or [""])[0]))
            email_id = uuid.UUID(str((tags.get("email_id") or [""])[0]))
        except ValueError:
            return None
        if kind == "Bounce":
            bounce = message.get("bounce") or {}
            recipients = [r.get("emailAddress", "") for r in bounce.get("bouncedRecipients", [])]
            permanent = bounce.get("bounceType") == "Permanent"
            detail = f"{bounce.get('bounceType')}/{bounce.get('bounceSubType')}"
        elif kind == "Complaint":
            complaint = message.get("complaint") or {}
            recipients = [
                r.get("emailAddress", "") for r in complaint.get("complainedRecipients", [])
            ]
            permanent = True
            detail = str(complaint.get("complaintFeedbackType") or "complaint")
        elif kind == "Delivery":
            recipients = list((message.get("delivery") or {}).get("recipients", []))
            permanent, detail = False, "delivered"
        else:
            return None
        return cls(tenant_id, email_id, kind, permanent, tuple(r for r in recipients if r),
                   detail, datetime.now(UTC))  # fmt: skip


_STATUS = {"Delivery": EmailStatus.DELIVERED, "Bounce": EmailStatus.BOUNCED,
           "Complaint": EmailStatus.COMPLAINED}  # fmt: skip


def apply_notification(note: SesNotification, *, unit_of_work: UnitOfWorkFactory) -> bool:
    """Record one notification; False when the email is unknown (another deployment's)."""
    with unit_of_work(note.tenant_id) as uow:
        messaging = cast(MessagingUnitOfWork, uow)
        email = messaging.emails.get(note.email_id)
        if email is None:
            return False
        if note.kind == "Delivery" and email.status in (
            EmailStatus.BOUNCED,
            EmailStatus.COMPLAINED,
        ):
            return True  # a late delivery report does not undo a bounce or complaint
        messaging.emails.record_status(note.email_id, _STATUS[note.kind], note.detail, note.at)
        if note.permanent:
            reason = "complaint" if note.kind == "Complaint" else "bounce"
            for address in note.recipients or (email.to.address,):
                messaging.suppressions.add(address, reason, note.email_id)
        uow.commit()
    return True


def apply_sns_event(event: dict[str, Any], *, unit_of_work: UnitOfWorkFactory) -> int:
    """The SNS event's records, each an SES notification; returns how many were recorded."""
    applied = 0
    for record in event.get("Records", []):
        try:
            message = json.loads(record["Sns"]["Message"])
        except (KeyError, TypeError, ValueError):
            logger.warning("an SNS record that is not an SES notification; skipped")
            continue
        note = SesNotification.parse(message)
        if note is None:
            logger.info("an SES notification of no pipeline email; skipped")
            continue
        applied += apply_notification(note, unit_of_work=unit_of_work)
    return applied
