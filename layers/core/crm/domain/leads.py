"""The lead aggregate: a prospect with an owner, a status that follows rules, tags, a category,
a score and custom fields.

Status: new -> qualified -> lost (with a reason) and back; `converted` only by converting the
lead into a contact (POST /leads/{id}/convert), and final. A deleted lead is soft-deleted
(restorable for 30 days); a merged one is deleted and points at the lead it was merged into.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from crm.domain.errors import ValidationFailed
from crm.domain.events import CloudEvent
from crm.domain.records import RecordSortField, body_error


class LeadStatus(StrEnum):
    NEW = "new"
    QUALIFIED = "qualified"
    LOST = "lost"
    CONVERTED = "converted"


# Fields a PATCH may name. owner_id, tags, status and custom_fields have their own rules.
EDITABLE_FIELDS = (
    "name",
    "email",
    "phone",
    "company",
    "source",
    "status",
    "lost_reason",
    "owner_id",
    "tags",
    "category",
    "score",
    "custom_fields",
)
# What the history and events of a change leave out: they move with every change.
BOOKKEEPING_FIELDS = frozenset({"version", "updated_at"})
# History actions of fields with their own events.
FIELD_ACTIONS = {"status": "status_changed", "owner_id": "assigned", "tags": "tagged"}
# Audit rows carry no personal data (GDPR erasure cannot reach the append-only audit log).
AUDITED_FIELDS = ("status", "source", "owner_id", "category", "tags", "score", "deleted_at")


@dataclass
class Lead:
    tenant_id: uuid.UUID
    name: str
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    source: str | None = None
    status: LeadStatus = LeadStatus.NEW
    owner_id: uuid.UUID | None = None
    created_by: uuid.UUID | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    version: int = 1
    tags: list[str] = field(default_factory=list)
    category: str | None = None
    score: int | None = None
    custom_fields: dict[str, Any] = field(default_factory=dict)
    lost_reason: str | None = None
    converted_at: datetime | None = None
    contact_id: uuid.UUID | None = None
    merged_into: uuid.UUID | None = None
    deleted_at: datetime | None = None

    def sort_value(self, sort: RecordSortField) -> Any:
        return getattr(self, sort.value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "company": self.company,
            "source": self.source,
            "status": self.status.value,
            "lost_reason": self.lost_reason,
            "owner_id": _str(self.owner_id),
            "tags": list(self.tags),
            "category": self.category,
            "score": self.score,
            "custom_fields": dict(self.custom_fields),
            "converted_at": _iso(self.converted_at),
            "contact_id": _str(self.contact_id),
            "merged_into": _str(self.merged_into),
            "deleted_at": _iso(self.deleted_at),
            "created_by": _str(self.created_by),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "version": self.version,
        }

    def audited(self) -> dict[str, Any]:
        body = self.to_dict()
        return {name: body[name] for name in AUDITED_FIELDS}

    def event(self, event_type: str, correlation_id: str | None, **extra: Any) -> CloudEvent:
        return CloudEvent(
            type=event_type,
            tenant_id=self.tenant_id,
            subject=f"leads/{self.id}",
            data={"lead": self.to_dict(), **extra},
            correlation_id=correlation_id,
        )

    def created_event(self, correlation_id: str | None = None) -> CloudEvent:
        return self.event("crm.lead.created", correlation_id)


def _str(value: uuid.UUID | None) -> str | None:
    return str(value) if value else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def apply_status(lead: Lead, changes: dict[str, Any]) -> None:
    """The status rules of a PATCH naming `status` and/or `lost_reason`.

    Converted is reached only by converting (and is final); lost needs a reason, and only a
    lost lead has one: leaving lost clears it unless the request names it.
    """
    if "status" in changes:
        target = LeadStatus(changes["status"])
        if target is not lead.status:
            if target is LeadStatus.CONVERTED:
                raise ValidationFailed(
                    "a lead becomes converted by converting it",
                    [body_error("status", "use POST /leads/{id}/convert")],
                )
            if lead.status is LeadStatus.CONVERTED:
                raise ValidationFailed(
                    "a converted lead keeps its status",
                    [body_error("status", "converted is final")],
                )
            if lead.status is LeadStatus.LOST and "lost_reason" not in changes:
                lead.lost_reason = None
            lead.status = target
    if "lost_reason" in changes:
        lead.lost_reason = changes["lost_reason"]
    if lead.status is LeadStatus.LOST and not lead.lost_reason:
        raise ValidationFailed(
            "a lost lead needs a reason",
            [body_error("lost_reason", "required when status is lost")],
        )
    if lead.status is not LeadStatus.LOST and lead.lost_reason is not None:
        raise ValidationFailed(
            "only a lost lead has a lost reason",
            [body_error("lost_reason", "set status to lost, or leave lost_reason out")],
        )


def change_events(
    lead: Lead,
    changes: dict[str, dict[str, Any]],
    correlation_id: str | None,
    *,
    status_reason: str | None = None,
) -> list[CloudEvent]:
    """crm.lead.updated with every changed field, then the events of the fields with their own
    meaning: status_changed, assigned, tagged."""
    events = [lead.event("crm.lead.updated", correlation_id, changes=changes)]
    if "status" in changes:
        events.append(
            lead.event(
                "crm.lead.status_changed",
                correlation_id,
                from_status=changes["status"]["old"],
                to_status=changes["status"]["new"],
                reason=status_reason,
            )
        )
    if "owner_id" in changes:
        events.append(
            lead.event(
                "crm.lead.assigned",
                correlation_id,
                from_owner_id=changes["owner_id"]["old"],
                to_owner_id=changes["owner_id"]["new"],
            )
        )
    if "tags" in changes:
        old, new = changes["tags"]["old"] or [], changes["tags"]["new"] or []
        events.append(
            lead.event(
                "crm.lead.tagged",
                correlation_id,
                added=[tag for tag in new if tag not in old],
                removed=[tag for tag in old if tag not in new],
            )
        )
    return events
