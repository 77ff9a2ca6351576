"""The field-by-field history of leads and contacts, and their notes. SQL only; never commits."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import pg8000.native

from crm.domain.notes import Note
from crm.domain.pagination import Keyset, Page, PageRequest
from crm.domain.records import HistoryEntry, RecordKind
from crm.domain.timeline import AutomationRunRef

_HISTORY_COLUMNS = (
    "id, lead_id, contact_id, change_id, action, field, old_value, new_value, actor_type,"
    " actor_id, changed_at"
)
_NOTE_COLUMNS = "id, lead_id, contact_id, body, author_id, created_at"
_RECORD_COLUMN = {RecordKind.LEAD: "lead_id", RecordKind.CONTACT: "contact_id"}


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str)


def _after(page: PageRequest, time_column: str, newest_first: bool) -> tuple[str, dict[str, Any]]:
    if page.after is None:
        return "", {}
    op = "<" if newest_first else ">"
    return (
        f" AND ({time_column}, id) {op} (:after_value, :after_id)",
        {"after_value": page.after.value, "after_id": page.after.id},
    )


class PostgresRecordHistory:
    def __init__(self, conn: pg8000.native.Connection) -> None:
        self._conn = conn

    def add(self, entries: Sequence[HistoryEntry]) -> None:
        """One INSERT for all the rows (they travel as one JSON document: an import writes
        hundreds at a time, and bind parameters by the thousand cost the driver more)."""
        if not entries:
            return
        rows = [
            {
                "id": str(entry.id),
                "lead_id": str(entry.record_id) if entry.kind is RecordKind.LEAD else None,
                "contact_id": None if entry.kind is RecordKind.LEAD else str(entry.record_id),
                "change_id": str(entry.change_id),
                "action": entry.action,
                "field": entry.field,
                "old_value": entry.old,
                "new_value": entry.new,
                "actor_type": entry.actor_type,
                "actor_id": str(entry.actor_id) if entry.actor_id else None,
                "changed_at": entry.changed_at.isoformat(),
            }
            for entry in entries
        ]
        self._conn.run(
            "INSERT INTO record_history (id, tenant_id, lead_id, contact_id, change_id, action,"
            " field, old_value, new_value, actor_type, actor_id, changed_at)"
            " SELECT r.id, app_tenant_id(), r.lead_id, r.contact_id, r.change_id, r.action,"
            " r.field, r.old_value, r.new_value, r.actor_type, r.actor_id, r.changed_at"
            " FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(id uuid, lead_id uuid,"
            " contact_id uuid, change_id uuid, action text, field text, old_value jsonb,"
            " new_value jsonb, actor_type text, actor_id uuid, changed_at timestamptz)",
            rows=json.dumps(rows, default=str),
        )

    def page(
        self,
        kind: RecordKind,
        record_ids: Sequence[uuid.UUID],
        page: PageRequest,
        *,
        newest_first: bool = True,
    ) -> Page[HistoryEntry]:
        """The history of the records (a lead and those merged into it), newest first."""
        column = _RECORD_COLUMN[kind]
        after, params = _after(page, "changed_at", newest_first)
        direction = "DESC" if newest_first else "ASC"
        rows = self._conn.run(
            f"SELECT {_HISTORY_COLUMNS} FROM record_history"
            f" WHERE {column} = ANY(CAST(:ids AS uuid[])){after}"
            f" ORDER BY changed_at {direction}, id {direction} LIMIT :limit",
            ids=[str(i) for i in record_ids],
            limit=page.limit + 1,
            **params,
        )
        entries = [_entry(row) for row in rows]
        return Page.from_rows(entries, page.limit, lambda e: Keyset(e.changed_at, e.id))

    def newest(
        self, kind: RecordKind, record_ids: Sequence[uuid.UUID], after: Keyset | None, limit: int
    ) -> list[HistoryEntry]:
        """Up to `limit` entries, newest first, after the keyset (time, id) `after`."""
        column = _RECORD_COLUMN[kind]
        older, params = _after(PageRequest(1, after), "changed_at", newest_first=True)
        rows = self._conn.run(
            f"SELECT {_HISTORY_COLUMNS} FROM record_history"
            f" WHERE {column} = ANY(CAST(:ids AS uuid[])){older}"
            " ORDER BY changed_at DESC, id DESC LIMIT :limit",
            ids=[str(i) for i in record_ids],
            limit=limit,
            **params,
        )
        return [_entry(row) for row in rows]


def _entry(row: Sequence[Any]) -> HistoryEntry:
    (id_, lead_id, contact_id, change_id, action, field, old, new, actor_type, actor_id, at) = row
    return HistoryEntry(
        id=id_,
        kind=RecordKind.LEAD if lead_id is not None else RecordKind.CONTACT,
        record_id=lead_id if lead_id is not None else contact_id,
        change_id=change_id,
        action=action,
        field=field,
        old=old,
        new=new,
        actor_type=actor_type,
        actor_id=actor_id,
        changed_at=at,
    )


class PostgresNotes:
    def __init__(self, conn: pg8000.native.Connection) -> None:
        self._conn = conn

    def add(self, note: Note) -> None:
        is_lead = note.kind is RecordKind.LEAD
        self._conn.run(
            f"INSERT INTO notes (tenant_id, {_NOTE_COLUMNS})"
            " VALUES (app_tenant_id(), :id, :lead_id, :contact_id, :body, :author_id, :at)",
            id=note.id,
            lead_id=note.record_id if is_lead else None,
            contact_id=None if is_lead else note.record_id,
            body=note.body,
            author_id=note.author_id,
            at=note.created_at,
        )

    def newest(
        self, kind: RecordKind, record_ids: Sequence[uuid.UUID], after: Keyset | None, limit: int
    ) -> list[Note]:
        """Up to `limit` notes, newest first, after the keyset (time, id) `after`."""
        column = _RECORD_COLUMN[kind]
        older, params = _after(PageRequest(1, after), "created_at", newest_first=True)
        rows = self._conn.run(
            f"SELECT {_NOTE_COLUMNS} FROM notes WHERE {column} = ANY(CAST(:ids AS uuid[])){older}"
            " ORDER BY created_at DESC, id DESC LIMIT :limit",
            ids=[str(i) for i in record_ids],
            limit=limit,
            **params,
        )
        return [
            Note(
                id=row[0],
                kind=RecordKind.LEAD if row[1] is not None else RecordKind.CONTACT,
                record_id=row[1] if row[1] is not None else row[2],
                body=row[3],
                author_id=row[4],
                created_at=row[5],
            )
            for row in rows
        ]


class PostgresRecordRuns:
    """The automation runs started by events about records (automation_runs.subject)."""

    def __init__(self, conn: pg8000.native.Connection) -> None:
        self._conn = conn

    def newest(
        self, subjects: Sequence[str], after: Keyset | None, limit: int
    ) -> list[AutomationRunRef]:
        older = ""
        params: dict[str, Any] = {}
        if after is not None:
            older = " AND (r.created_at, r.id) < (:after_value, :after_id)"
            params = {"after_value": after.value, "after_id": after.id}
        rows = self._conn.run(
            "SELECT r.id, r.automation_id, a.name, r.event_id, o.type, r.execution_arn,"
            " r.created_at FROM automation_runs r JOIN automations a ON a.id = r.automation_id"
            " LEFT JOIN outbox o ON o.id = r.event_id"
            f" WHERE r.subject = ANY(CAST(:subjects AS text[])){older}"
            " ORDER BY r.created_at DESC, r.id DESC LIMIT :limit",
            subjects=list(subjects),
            limit=limit,
            **params,
        )
        return [AutomationRunRef(*row) for row in rows]
