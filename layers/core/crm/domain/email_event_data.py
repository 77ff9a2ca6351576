"""The `data` of the messaging and work-item events (crm.email.*, crm.task.*,
crm.notification.*). Ids and states
only: addresses, bodies, titles and notes stay in the database, where GDPR erasure and
retention can reach them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class EmailRecordRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["lead", "contact", "user"]
    id: str


class EmailRequestedData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email_id: str
    purpose: Literal["message", "invitation", "password_reset", "automation"]
    record: EmailRecordRef | None = None


class TaskRecordRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["lead", "contact", "deal"]
    id: str


class TaskEventData(BaseModel):
    """crm.task.*: the task's ids and state (the title and notes stay in the database)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    type: Literal["call", "meeting", "email", "todo"]
    due_at: str | None = None
    assignee_id: str | None = None
    record: TaskRecordRef | None = None
    done: bool
    previous_assignee_id: str | None = None


class NotificationCreatedData(BaseModel):
    """crm.notification.created: pushed to the one user it is for (crm.domain.realtime)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    user_id: str
    kind: str
    link: str | None = None
