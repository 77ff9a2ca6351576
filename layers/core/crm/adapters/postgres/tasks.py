"""Tasks. SQL only; never commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pg8000.native

from crm.domain.pagination import Keyset
from crm.domain.tasks import Task, TaskFilters

_COLUMNS = (
    "id, tenant_id, title, type, due_at, assignee_id, record_kind, record_id, notes, done_at,"
    " reminded_at, created_by, created_at, updated_at, version"
)


def _task(row: list[Any]) -> Task:
    (id_, tenant_id, title, type_, due_at, assignee_id, record_kind, record_id, notes, done_at,
     reminded_at, created_by, created_at, updated_at, version) = row  # fmt: skip
    return Task(
        id=id_, tenant_id=tenant_id, title=title, type=type_, due_at=due_at,
        assignee_id=assignee_id, record_kind=record_kind, record_id=record_id, notes=notes,
        done_at=done_at, reminded_at=reminded_at, created_by=created_by, created_at=created_at,
        updated_at=updated_at, version=version,
    )  # fmt: skip


class PostgresTasks:
    def __init__(self, conn: pg8000.native.Connection) -> None:
        self._conn = conn

    def add(self, task: Task) -> None:
        self._conn.run(
            f"INSERT INTO tasks ({_COLUMNS}) VALUES (:id, :tenant_id, :title, :type, :due_at,"
            " :assignee_id, :record_kind, :record_id, :notes, :done_at, :reminded_at,"
            " :created_by, :created_at, :updated_at, :version)",
            **self._params(task),
        )

    @staticmethod
    def _params(task: Task) -> dict[str, Any]:
        return {
            "id": task.id, "tenant_id": task.tenant_id, "title": task.title, "type": task.type,
            "due_at": task.due_at, "assignee_id": task.assignee_id,
            "record_kind": task.record_kind, "record_id": task.record_id, "notes": task.notes,
            "done_at": task.done_at, "reminded_at": task.reminded_at,
            "created_by": task.created_by, "created_at": task.created_at,
            "updated_at": task.updated_at, "version": task.version,
        }  # fmt: skip

    def get(self, task_id: uuid.UUID, *, for_update: bool = False) -> Task | None:
        lock = " FOR UPDATE" if for_update else ""
        rows = self._conn.run(f"SELECT {_COLUMNS} FROM tasks WHERE id = :id{lock}", id=task_id)
        return _task(rows[0]) if rows else None

    def update(self, task: Task) -> None:
        self._conn.run(
            "UPDATE tasks SET title = :title, type = :type, due_at = :due_at,"
            " assignee_id = :assignee_id, record_kind = :record_kind, record_id = :record_id,"
            " notes = :notes, done_at = :done_at, reminded_at = :reminded_at,"
            " updated_at = :updated_at, version = :version WHERE id = :id",
            **{k: v for k, v in self._params(task).items()
               if k not in ("tenant_id", "created_by", "created_at")},
        )  # fmt: skip

    def delete(self, task_id: uuid.UUID) -> None:
        self._conn.run("DELETE FROM tasks WHERE id = :id", id=task_id)

    def page(self, filters: TaskFilters, limit: int, after: Keyset | None) -> list[Task]:
        where = ["true"]
        params: dict[str, Any] = {"limit": limit}
        if filters.assignee_id is not None:
            where.append("assignee_id = :assignee")
            params["assignee"] = filters.assignee_id
        if filters.visible_to is not None:
            where.append("(assignee_id = :me OR created_by = :me)")
            params["me"] = filters.visible_to
        if filters.done is not None:
            where.append("done_at IS NOT NULL" if filters.done else "done_at IS NULL")
        if filters.due_before is not None:
            where.append("due_at < :due_before")
            params["due_before"] = filters.due_before
        if filters.due_from is not None:
            where.append("due_at >= :due_from")
            params["due_from"] = filters.due_from
        if filters.record_kind is not None:
            where.append("record_kind = :record_kind")
            params["record_kind"] = filters.record_kind
        if filters.record_id is not None:
            where.append("record_id = :record_id")
            params["record_id"] = filters.record_id
        if after is not None:
            where.append("(created_at, id) < (:after_at, :after_id)")
            params.update(after_at=after.value, after_id=after.id)
        rows = self._conn.run(
            f"SELECT {_COLUMNS} FROM tasks WHERE {' AND '.join(where)}"
            " ORDER BY created_at DESC, id DESC LIMIT :limit",
            **params,
        )
        return [_task(row) for row in rows]

    def for_records(
        self, kind: str, record_ids: Sequence[uuid.UUID], after: Keyset | None, limit: int
    ) -> list[Task]:
        params: dict[str, Any] = {"kind": kind, "ids": [str(i) for i in record_ids], "limit": limit}
        keyset = ""
        if after is not None:
            keyset = " AND (created_at, id) < (:after_at, :after_id)"
            params.update(after_at=after.value, after_id=after.id)
        rows = self._conn.run(
            f"SELECT {_COLUMNS} FROM tasks WHERE record_kind = :kind"
            f" AND record_id = ANY(CAST(:ids AS uuid[])){keyset}"
            " ORDER BY created_at DESC, id DESC LIMIT :limit",
            **params,
        )
        return [_task(row) for row in rows]

    def due_unreminded(self, before: datetime, limit: int) -> list[Task]:
        """Open tasks due before `before` whose assignee was not reminded yet, locked (others
        running the reminder skip them)."""
        rows = self._conn.run(
            f"SELECT {_COLUMNS} FROM tasks WHERE done_at IS NULL AND reminded_at IS NULL"
            " AND due_at IS NOT NULL AND due_at < :before AND assignee_id IS NOT NULL"
            " ORDER BY due_at LIMIT :limit FOR UPDATE SKIP LOCKED",
            before=before,
            limit=limit,
        )
        return [_task(row) for row in rows]

    def mark_reminded(self, task_ids: Sequence[uuid.UUID], at: datetime) -> None:
        self._conn.run(
            "UPDATE tasks SET reminded_at = :at WHERE id = ANY(CAST(:ids AS uuid[]))",
            at=at,
            ids=[str(i) for i in task_ids],
        )
