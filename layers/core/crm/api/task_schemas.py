"""Request bodies of the task routes (pydantic)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

TaskTypeIn = Literal["call", "meeting", "email", "todo"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class TaskRecordIn(_Body):
    type: Literal["lead", "contact", "deal"]
    id: uuid.UUID


class TaskIn(_Body):
    title: str = Field(min_length=1, max_length=300)
    type: TaskTypeIn = "todo"
    due_at: datetime | None = Field(
        default=None, description="RFC 3339; without an offset, the tenant's wall-clock time"
    )
    assignee_id: uuid.UUID | None = Field(
        default=None, description="default: the caller; null: nobody"
    )
    record: TaskRecordIn | None = Field(default=None, description="a linked lead, contact or deal")
    notes: str | None = Field(default=None, max_length=10_000)
    done: bool = False


class TaskPatch(_Body):
    title: str | None = Field(default=None, min_length=1, max_length=300)
    type: TaskTypeIn | None = None
    due_at: datetime | None = None
    assignee_id: uuid.UUID | None = None
    record: TaskRecordIn | None = None
    notes: str | None = Field(default=None, max_length=10_000)
    done: bool | None = None
