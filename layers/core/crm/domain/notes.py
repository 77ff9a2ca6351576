"""Notes on a lead or contact: free text by a user, part of the record's timeline."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from crm.domain.records import RecordKind


@dataclass(frozen=True)
class Note:
    kind: RecordKind
    record_id: uuid.UUID
    body: str
    author_id: uuid.UUID | None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            f"{self.kind.value}_id": str(self.record_id),
            "body": self.body,
            "author_id": str(self.author_id) if self.author_id else None,
            "created_at": self.created_at.isoformat(),
        }
