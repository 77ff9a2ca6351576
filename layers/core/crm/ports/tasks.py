"""Ports of the work-items context: tasks and what the task services touch."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from crm.domain.pagination import Keyset
from crm.domain.tasks import Task, TaskFilters


class TaskRepository(Protocol):
    def add(self, task: Task) -> None: ...
    def get(self, task_id: uuid.UUID, *, for_update: bool = False) -> Task | None: ...
    def update(self, task: Task) -> None: ...
    def delete(self, task_id: uuid.UUID) -> None: ...
    def page(self, filters: TaskFilters, limit: int, after: Keyset | None) -> list[Task]:
        """Newest first (created_at, id)."""
        ...

    def for_records(
        self, kind: str, record_ids: Sequence[uuid.UUID], after: Keyset | None, limit: int
    ) -> list[Task]: ...
    def due_unreminded(self, before: datetime, limit: int) -> list[Task]: ...
    def mark_reminded(self, task_ids: Sequence[uuid.UUID], at: datetime) -> None: ...


class TasksUnitOfWork(Protocol):
    tasks: TaskRepository
