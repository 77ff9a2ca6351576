"""Dead letters: events a consumer gave up on, kept per tenant until an admin redrives them
(back to that consumer's queue, with fresh attempts) or discards them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class DeadLetterStatus(StrEnum):
    DEAD = "dead"
    REDRIVEN = "redriven"


@dataclass(frozen=True)
class DeadLetter:
    tenant_id: uuid.UUID
    consumer: str
    event_id: uuid.UUID
    event_type: str
    envelope: dict[str, Any]
    error: str
    attempts: int
    first_failed_at: datetime
    last_failed_at: datetime
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    dead_lettered_at: datetime | None = None  # set by the store
    status: DeadLetterStatus = DeadLetterStatus.DEAD
    redriven_at: datetime | None = None
    redriven_by: uuid.UUID | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "consumer": self.consumer,
            "event": self.envelope,
            "error": self.error,
            "attempts": self.attempts,
            "first_failed_at": self.first_failed_at.isoformat(),
            "last_failed_at": self.last_failed_at.isoformat(),
            "dead_lettered_at": self.dead_lettered_at.isoformat()
            if self.dead_lettered_at
            else None,
            "status": self.status.value,
            "redriven_at": self.redriven_at.isoformat() if self.redriven_at else None,
            "redriven_by": str(self.redriven_by) if self.redriven_by else None,
        }


@dataclass(frozen=True)
class RedriveSelection:
    """Which dead letters (status dead) of the caller's tenant to redrive: the given ids, or
    every one matching the filters (no filters: all of them)."""

    ids: tuple[uuid.UUID, ...] | None = None
    consumer: str | None = None
    event_type: str | None = None
