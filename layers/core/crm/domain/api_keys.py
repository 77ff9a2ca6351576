"""API keys for integrations: a name, scopes (permissions), a creator, an optional expiry.

The key acts as its creator with at most its scopes (crm.domain.permissions); it stops
working when revoked, when it expires, or when its creator is deactivated. The secret is
shown once at creation; only its digest is stored (crm.domain.credentials).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class ApiKey:
    tenant_id: uuid.UUID
    name: str
    scopes: frozenset[str]
    digest: str
    hint: str  # the last characters of the secret: tells keys apart in a list
    created_by: uuid.UUID
    expires_at: datetime | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    def usable_at(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def to_dict(self) -> dict[str, Any]:
        """The public view: never the digest."""
        return {
            "id": str(self.id),
            "name": self.name,
            "scopes": sorted(self.scopes),
            "hint": f"...{self.hint}",
            "created_by": str(self.created_by),
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


@dataclass(frozen=True)
class ApiKeyHolder:
    """A key with its creator's current role and status (the authorizer's lookup)."""

    key: ApiKey
    creator_role: str
    creator_status: str
