"""The contact aggregate: a person the tenant does business with (often a converted lead), with
an owner, tags, a category and custom fields. Soft-deleted like leads (restorable for 30
days, then purged). What it shares with leads is in crm.domain.person_records."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from crm.domain.events import CloudEvent
from crm.domain.person_records import PersonRecordBase, id_text, iso_text, owner_and_tag_events
from crm.domain.records import RecordKind

# Fields a PATCH may name. owner_id, tags and custom_fields have their own rules.
EDITABLE_FIELDS = (
    "name",
    "email",
    "phone",
    "company",
    "job_title",
    "owner_id",
    "tags",
    "category",
    "custom_fields",
)
FIELD_ACTIONS = {"owner_id": "assigned", "tags": "tagged"}
AUDITED_FIELDS = ("owner_id", "category", "tags", "lead_id", "deleted_at")


@dataclass
class Contact(PersonRecordBase):
    KIND: ClassVar[RecordKind] = RecordKind.CONTACT
    AUDITED: ClassVar[tuple[str, ...]] = AUDITED_FIELDS

    tenant_id: uuid.UUID
    name: str
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    job_title: str | None = None
    owner_id: uuid.UUID | None = None
    tags: list[str] = field(default_factory=list)
    category: str | None = None
    custom_fields: dict[str, Any] = field(default_factory=dict)
    lead_id: uuid.UUID | None = None
    created_by: uuid.UUID | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    deleted_at: datetime | None = None
    version: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "company": self.company,
            "job_title": self.job_title,
            "owner_id": id_text(self.owner_id),
            "tags": list(self.tags),
            "category": self.category,
            "custom_fields": dict(self.custom_fields),
            "lead_id": id_text(self.lead_id),
            "deleted_at": iso_text(self.deleted_at),
            "created_by": id_text(self.created_by),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "version": self.version,
        }


def change_events(
    contact: Contact, changes: dict[str, dict[str, Any]], correlation_id: str | None
) -> list[CloudEvent]:
    """crm.contact.updated with every changed field, then assigned / tagged."""
    return [
        contact.event("crm.contact.updated", correlation_id, changes=changes),
        *owner_and_tag_events(contact, changes, correlation_id),
    ]
