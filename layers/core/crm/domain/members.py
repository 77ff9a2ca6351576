"""The tenant's team as administrators see it: members (users) and their invitations."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

INVITATION_TTL = timedelta(days=7)


@dataclass(frozen=True)
class Member:
    id: uuid.UUID
    email: str
    name: str
    role: str
    status: str
    created_at: datetime
    updated_at: datetime
    version: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "email": self.email,
            "name": self.name,
            "role": self.role,
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "version": self.version,
        }

    def audited(self) -> dict[str, Any]:
        """The fields an audit diff compares."""
        return {"email": self.email, "name": self.name, "role": self.role, "status": self.status}


def invitation_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_invitation_token(tenant_id: uuid.UUID) -> str:
    """`<tenant id>.<256 random bits>`: accepting is a public request, and the tenant part lets
    it open a unit of work for the right tenant without any lookup across tenants."""
    return f"{tenant_id.hex}.{secrets.token_urlsafe(32)}"


def tenant_of_token(token: str) -> uuid.UUID | None:
    tenant_part, dot, secret = token.partition(".")
    if not dot or not secret:
        return None
    try:
        return uuid.UUID(hex=tenant_part)
    except ValueError:
        return None


@dataclass(frozen=True)
class Invitation:
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    token_hash: str
    created_by: uuid.UUID | None
    expires_at: datetime = field(default_factory=lambda: datetime.now(UTC) + INVITATION_TTL)
    accepted_at: datetime | None = None
    revoked_at: datetime | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
