"""The lead aggregate: a prospect with an owner, a status that follows rules, tags, a category,
a score and custom fields.

Status: new -> qualified -> lost (with a reason) and back; `converted` only by converting the
lead into a contact (POST /leads/{id}/convert), and final. A deleted lead is soft-deleted
(restorable for 30 days); a merged one is deleted and points at the lead it was merged into.
What it shares with contacts is in crm.domain.person_records.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from crm.domain.errors import ValidationFailed
from crm.domain.events import CloudEvent
from crm.domain.person_records import PersonRecordBase, id_text, iso_text, owner_and_tag_events
from crm.domain.records import RecordKind, body_error


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
# History actions of fields with their own events.
FIELD_ACTIONS = {"status": "status_changed", "owner_id": "assigned", "tags": "tagged"}
# Audit rows carry no personal data (GDPR erasure cannot reach the append-only audit log).
AUDITED_FIELDS = ("status", "source", "owner_id", "category", "tags", "score", "deleted_at")


@dataclass
class Lead(PersonRecordBase):
    KIND: ClassVar[RecordKind] = RecordKind.LEAD
    AUDITED: ClassVar[tuple[str, ...]] = AUDITED_FIELDS

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
            "owner_id": id_text(self.owner_id),
            "tags": list(self.tags),
            "category": self.category,
            "score": self.score,
            "custom_fields": dict(self.custom_fields),
            "converted_at": iso_text(self.converted_at),
            "contact_id": id_text(self.contact_id),
            "merged_into": id_text(self.merged_into),
            "deleted_at": iso_text(self.deleted_at),
            "created_by": id_text(self.created_by),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "version": self.version,
        }

    def created_event(self, correlation_id: str | None = None) -> CloudEvent:
        return self.event("crm.lead.created", correlation_id)


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
    return events + owner_and_tag_events(lead, changes, correlation_id)
