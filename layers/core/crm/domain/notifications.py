"""In-app notifications: what a user is told (a record or task assigned to them, a task due
soon, a dead letter or failed automation run for owners and admins, ...), read or unread."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

NotificationKind = Literal[
    "record_assigned", "task_assigned", "task_due", "import_finished", "automation_failed",
    "dead_letter", "webhook_disabled", "automation",
]  # fmt: skip
NOTIFICATION_KINDS: tuple[str, ...] = (
    "record_assigned", "task_assigned", "task_due", "import_finished", "automation_failed",
    "dead_letter", "webhook_disabled", "automation",
)  # fmt: skip
NOTIFICATION_CREATED = "crm.notification.created"


@dataclass(frozen=True)
class Notification:
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    kind: str
    title: str
    source_key: str  # what caused it (an event id, a dead letter id): one per user and kind
    link: str | None = None  # the resource it is about: leads/<id>, tasks/<id>, ...
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    read_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "kind": self.kind,
            "title": self.title,
            "link": self.link,
            "read": self.read_at is not None,
            "read_at": self.read_at.isoformat() if self.read_at else None,
            "created_at": self.created_at.isoformat(),
        }
