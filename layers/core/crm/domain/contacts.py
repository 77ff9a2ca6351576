"""The contact aggregate: a person the tenant does business with (often a converted lead), with
an owner, tags, a category and custom fields. Soft-deleted like leads (restorable for 30
days, then purged)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from crm.domain.events import CloudEvent
from crm.domain.records import RecordSortField

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
BOOKKEEPING_FIELDS = frozenset({"version", "updated_at"})
FIELD_ACTIONS = {"owner_id": "assigned", "tags": "tagged"}
# Audit rows carry no personal data (GDPR erasure cannot reach the append-only audit log).
AUDITED_FIELDS = ("owner_id", "category", "tags", "lead_id", "deleted_at")


@dataclass
class Contact:
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

    def sort_value(self, sort: RecordSortField) -> Any:
        return getattr(self, sort.value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "company": self.company,
            "job_title": self.job_title,
            "owner_id": _str(self.owner_id),
            "tags": list(self.tags),
            "category": self.category,
            "custom_fields": dict(self.custom_fields),
            "lead_id": _str(self.lead_id),
            "deleted_at": self.deleted_at.isoformat() if self.deleted_at else None,
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
            subject=f"contacts/{self.id}",
            data={"contact": self.to_dict(), **extra},
            correlation_id=correlation_id,
        )


def _str(value: uuid.UUID | None) -> str | None:
    return str(value) if value else None


def change_events(
    contact: Contact, changes: dict[str, dict[str, Any]], correlation_id: str | None
) -> list[CloudEvent]:
    """crm.contact.updated with every changed field, then assigned / tagged."""
    events = [contact.event("crm.contact.updated", correlation_id, changes=changes)]
    if "owner_id" in changes:
        events.append(
            contact.event(
                "crm.contact.assigned",
                correlation_id,
                from_owner_id=changes["owner_id"]["old"],
                to_owner_id=changes["owner_id"]["new"],
            )
        )
    if "tags" in changes:
        old, new = changes["tags"]["old"] or [], changes["tags"]["new"] or []
        events.append(
            contact.event(
                "crm.contact.tagged",
                correlation_id,
                added=[tag for tag in new if tag not in old],
                removed=[tag for tag in old if tag not in new],
            )
        )
    return events
