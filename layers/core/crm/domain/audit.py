"""Audit entries: who did what to which entity, with a diff that never carries secrets."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

# Field names whose values never reach the audit log, whatever the entity.
SECRET_FIELDS = frozenset(
    {
        "password",
        "password_hash",
        "secret",
        "token",
        "refresh_token",
        "mfa_secret",
        "api_key",
        "key_hash",
    }
)
REDACTED = "[redacted]"


@dataclass(frozen=True)
class RequestMeta:
    """Where a request came from, as the API layer saw it."""

    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class AuditEntry:
    tenant_id: uuid.UUID
    action: str  # e.g. "lead.created", "auth.login_failed"
    actor_type: str = "user"  # user | api_key | system | anonymous | automation
    actor_id: uuid.UUID | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    meta: RequestMeta = field(default_factory=RequestMeta)


def diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """Field-by-field {"field": {"old": ..., "new": ...}} of what changed, secrets redacted."""
    before, after = before or {}, after or {}
    changed: dict[str, Any] = {}
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if key in SECRET_FIELDS:
            old, new = (
                (REDACTED if old is not None else None),
                (REDACTED if new is not None else None),
            )
        changed[key] = {"old": old, "new": new}
    return changed


class AuditRecord(NamedTuple):
    """A row of the audit log as GET /audit-logs reads it."""

    id: int
    occurred_at: datetime
    actor_type: str
    actor_id: uuid.UUID | None
    action: str
    entity_type: str | None
    entity_id: str | None
    changes: dict[str, Any]
    ip: str | None
    user_agent: str | None
    request_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "occurred_at": self.occurred_at.isoformat(),
            "actor": {
                "type": self.actor_type,
                "id": str(self.actor_id) if self.actor_id else None,
            },
            "action": self.action,
            "entity": {"type": self.entity_type, "id": self.entity_id},
            "changes": self.changes,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "request_id": self.request_id,
        }
