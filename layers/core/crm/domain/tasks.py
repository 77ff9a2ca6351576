"""Tasks: a sales rep's work items (call, meeting, email, to-do), due at a moment, assigned to
a user, maybe linked to a lead, contact or deal. Pure data and rules."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from crm.domain.events import CloudEvent

TaskType = Literal["call", "meeting", "email", "todo"]
TASK_TYPES: tuple[str, ...] = ("call", "meeting", "email", "todo")
TaskRecordKind = Literal["lead", "contact", "deal"]


@dataclass(frozen=True)
class Task:
    tenant_id: uuid.UUID
    title: str
    type: TaskType
    due_at: datetime | None = None
    assignee_id: uuid.UUID | None = None
    record_kind: TaskRecordKind | None = None
    record_id: uuid.UUID | None = None
    notes: str | None = None
    done_at: datetime | None = None
    reminded_at: datetime | None = None
    created_by: uuid.UUID | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    version: int = 1

    @property
    def done(self) -> bool:
        return self.done_at is not None

    def is_overdue(self, now: datetime) -> bool:
        return not self.done and self.due_at is not None and self.due_at < now

    def to_dict(self, now: datetime | None = None) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "title": self.title,
            "type": self.type,
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "assignee_id": str(self.assignee_id) if self.assignee_id else None,
            "record": None
            if self.record_kind is None
            else {"type": self.record_kind, "id": str(self.record_id)},
            "notes": self.notes,
            "done": self.done,
            "done_at": self.done_at.isoformat() if self.done_at else None,
            "overdue": self.is_overdue(now or datetime.now(UTC)),
            "created_by": str(self.created_by) if self.created_by else None,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "version": self.version,
        }

    def event(self, name: str, correlation_id: str | None, **extra: Any) -> CloudEvent:
        """crm.task.<name>, with ids and states only (no title or notes: personal data)."""
        return CloudEvent(
            type=f"crm.task.{name}",
            tenant_id=self.tenant_id,
            subject=f"tasks/{self.id}",
            data={
                "id": str(self.id),
                "type": self.type,
                "due_at": self.due_at.isoformat() if self.due_at else None,
                "assignee_id": str(self.assignee_id) if self.assignee_id else None,
                "record": None
                if self.record_kind is None
                else {"type": self.record_kind, "id": str(self.record_id)},
                "done": self.done,
                **extra,
            },
            correlation_id=correlation_id,
        )


@dataclass(frozen=True)
class TaskFilters:
    assignee_id: uuid.UUID | None = None
    visible_to: uuid.UUID | None = None  # a seller: assigned to or created by them
    done: bool | None = None
    due_before: datetime | None = None  # overdue: due before now and not done
    due_from: datetime | None = None  # with due_before: due within [from, before)
    record_kind: str | None = None
    record_id: uuid.UUID | None = None


def local_due(value: datetime, timezone: str) -> datetime:
    """A due moment: an aware one as given; a naive one is the tenant's wall-clock time."""
    if value.tzinfo is not None:
        return value.astimezone(UTC)
    return value.replace(tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def day_bounds(today: date, timezone: str) -> tuple[datetime, datetime]:
    """[start, end) of a calendar day in the tenant's time zone, in UTC."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(today, time.min, zone)
    end = datetime.combine(today + timedelta(days=1), time.min, zone)
    return start.astimezone(UTC), end.astimezone(UTC)
