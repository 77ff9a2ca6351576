"""The lead aggregate (the skeleton's slice of it)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from crm.domain.events import CloudEvent


class LeadStatus(StrEnum):
    NEW = "new"
    QUALIFIED = "qualified"
    LOST = "lost"
    CONVERTED = "converted"


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "email": self.email,
            "phone": self.phone,
            "company": self.company,
            "source": self.source,
            "status": self.status.value,
            "owner_id": str(self.owner_id) if self.owner_id else None,
            "created_by": str(self.created_by) if self.created_by else None,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "version": self.version,
        }

    def created_event(self, correlation_id: str | None = None) -> CloudEvent:
        return CloudEvent(
            type="crm.lead.created",
            tenant_id=self.tenant_id,
            subject=f"leads/{self.id}",
            data={"lead": self.to_dict()},
            correlation_id=correlation_id,
        )
