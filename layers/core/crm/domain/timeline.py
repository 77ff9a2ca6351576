"""A record's timeline: its changes (history rows), notes, the automation runs its events
started, the emails sent to it and its tasks, newest first, merged into one keyset-paginated list."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crm.domain.emails import Email
from crm.domain.notes import Note
from crm.domain.pagination import Keyset, Page
from crm.domain.records import HistoryEntry
from crm.domain.tasks import Task


@dataclass(frozen=True)
class AutomationRunRef:
    """An automation run started by an event about the record."""

    id: uuid.UUID
    automation_id: uuid.UUID
    automation_name: str
    event_id: uuid.UUID
    event_type: str | None  # None once the event's outbox row has been pruned
    execution_arn: str | None
    started_at: datetime


@dataclass(frozen=True)
class TimelineItem:
    type: str  # change | note | automation_run | email | task
    at: datetime
    id: uuid.UUID
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "at": self.at.isoformat(), "id": str(self.id), **self.data}

    @property
    def keyset(self) -> Keyset:
        return Keyset(self.at, self.id)


def change_item(entry: HistoryEntry) -> TimelineItem:
    body = entry.to_dict()
    data = {k: v for k, v in body.items() if k not in ("id", "changed_at")}
    return TimelineItem("change", entry.changed_at, entry.id, data)


def note_item(note: Note) -> TimelineItem:
    body = note.to_dict()
    return TimelineItem(
        "note", note.created_at, note.id, {k: v for k, v in body.items() if k != "id"}
    )


def run_item(run: AutomationRunRef) -> TimelineItem:
    return TimelineItem(
        "automation_run",
        run.started_at,
        run.id,
        {
            "automation_id": str(run.automation_id),
            "automation_name": run.automation_name,
            "event_id": str(run.event_id),
            "event_type": run.event_type,
            "execution_arn": run.execution_arn,
        },
    )


def email_item(email: Email) -> TimelineItem:
    """An email sent to the record through the pipeline (subject and status, not the body)."""
    return TimelineItem(
        "email",
        email.created_at,
        email.id,
        {
            "subject": email.subject,
            "to": email.to.address,
            "purpose": email.purpose,
            "status": email.status.value,
            "sent_at": email.sent_at.isoformat() if email.sent_at else None,
            "created_by": str(email.created_by) if email.created_by else None,
        },
    )


def task_item(task: Task) -> TimelineItem:
    """A task linked to the record (its title, type, due moment and state)."""
    body = task.to_dict()
    data = {k: body[k] for k in ("title", "due_at", "assignee_id", "done", "done_at")}
    return TimelineItem("task", task.created_at, task.id, {**data, "task_type": task.type})


def merge_newest(sources: Iterable[list[TimelineItem]], limit: int) -> Page[TimelineItem]:
    """The newest `limit` items of sources that each hold up to limit + 1 items, newest first;
    `next` is the keyset after the last one when any source had more."""
    items = sorted(
        (item for source in sources for item in source),
        key=lambda item: (item.at, str(item.id)),
        reverse=True,
    )
    return Page.from_rows(items[: limit + 1], limit, lambda item: item.keyset)
