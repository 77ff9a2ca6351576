"""Leads: SQL only, parameterised; never commits."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import pg8000.native

from crm.adapters.postgres.record_lists import (
    ListSource,
    find_duplicate,
    find_every,
    find_page,
    list_query,
    lock_identities,
)
from crm.domain.leads import Lead, LeadStatus
from crm.domain.pagination import Keyset, Page, PageRequest
from crm.domain.records import RecordFilters, RecordSort, RecordSortField

_COLUMNS = (
    "id",
    "tenant_id",
    "name",
    "email",
    "phone",
    "company",
    "source",
    "status",
    "owner_id",
    "created_by",
    "created_at",
    "updated_at",
    "version",
    "tags",
    "category",
    "score",
    "custom_fields",
    "lost_reason",
    "converted_at",
    "contact_id",
    "merged_into",
    "deleted_at",
)
_SELECT = ", ".join(f"l.{c}" for c in _COLUMNS)
_SOURCE = ListSource("leads", "l", _SELECT, "lead")
# What an update writes (id, tenant_id, created_* never change).
_WRITABLE = tuple(c for c in _COLUMNS if c not in ("id", "tenant_id", "created_by", "created_at"))
_CASTS = {"tags": "CAST(:tags AS text[])", "custom_fields": "CAST(:custom_fields AS jsonb)"}


_RECORDSET_TYPES = (
    "id uuid, tenant_id uuid, name text, email text, phone text, company text, source text,"
    " status text, owner_id uuid, created_by uuid, created_at timestamptz,"
    " updated_at timestamptz, version integer, tags jsonb, category text, score smallint,"
    " custom_fields jsonb, lost_reason text, converted_at timestamptz, contact_id uuid,"
    " merged_into uuid, deleted_at timestamptz"
)
_RECORDSET_SELECT = {"tags": "ARRAY(SELECT jsonb_array_elements_text(r.tags))"}


def _json_value(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _value(column: str) -> str:
    return _CASTS.get(column, f":{column}")


def _params(lead: Lead, columns: Sequence[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for column in columns:
        value = getattr(lead, column)
        if isinstance(value, LeadStatus):
            value = value.value
        elif column == "custom_fields":
            value = json.dumps(value)
        elif column == "tags":
            value = list(value)
        params[column] = value
    return params


def lead_from_row(row: Sequence[Any]) -> Lead:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["status"] = LeadStatus(values["status"])
    values["tags"] = list(values["tags"] or [])
    values["custom_fields"] = dict(values["custom_fields"] or {})
    return Lead(**values)


def lead_keyset(sort: RecordSort) -> Any:
    def keyset(lead: Lead) -> Keyset:
        value = lead.sort_value(sort.field)
        if sort.field is RecordSortField.SCORE and value is not None:
            value = Decimal(value)
        return Keyset(value, lead.id)

    return keyset


LEAD_LIST = _SOURCE


def lead_list_query(
    filters: RecordFilters,
    sort: RecordSort,
    page: PageRequest,
    search_ids: Sequence[uuid.UUID] | None = None,
) -> tuple[str, dict[str, Any]]:
    return list_query(_SOURCE, filters, sort, page, search_ids)


class PostgresLeadRepository:
    def __init__(self, conn: pg8000.native.Connection) -> None:
        self._conn = conn

    def add(self, lead: Lead) -> None:
        self._conn.run(
            f"INSERT INTO leads ({', '.join(_COLUMNS)})"
            f" VALUES ({', '.join(_value(c) for c in _COLUMNS)})",
            **_params(lead, _COLUMNS),
        )

    def add_many(self, leads: Sequence[Lead]) -> None:
        """One INSERT for many leads (an import's batch). The rows travel as one JSON document:
        thousands of bind parameters cost the driver more than the database."""
        if not leads:
            return
        rows = [{c: _json_value(v) for c, v in _params(lead, _COLUMNS).items()} for lead in leads]
        for row, lead in zip(rows, leads, strict=True):
            row["custom_fields"], row["tags"] = lead.custom_fields, list(lead.tags)
        self._conn.run(
            f"INSERT INTO leads ({', '.join(_COLUMNS)}) SELECT"
            f" {', '.join(_RECORDSET_SELECT.get(c, 'r.' + c) for c in _COLUMNS)}"
            f" FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r({_RECORDSET_TYPES})",
            rows=json.dumps(rows),
        )

    def live_by_identity(
        self, emails: Sequence[str], phone_digits: Sequence[str]
    ) -> list[tuple[uuid.UUID, str | None, str | None]]:
        """(id, email, phone digits) of live leads with any of these emails or phones."""
        rows = self._conn.run(
            "SELECT id, email, phone_digits FROM leads WHERE deleted_at IS NULL"
            " AND (email = ANY(CAST(:emails AS text[]))"
            " OR phone_digits = ANY(CAST(:digits AS text[]))) ORDER BY created_at",
            emails=list(emails),
            digits=list(phone_digits),
        )
        return [(row[0], row[1], row[2]) for row in rows]

    def get(
        self, lead_id: uuid.UUID, *, for_update: bool = False, include_deleted: bool = False
    ) -> Lead | None:
        live = "" if include_deleted else " AND l.deleted_at IS NULL"
        lock = " FOR UPDATE" if for_update else ""
        rows = self._conn.run(
            f"SELECT {_SELECT} FROM leads l WHERE l.id = :id{live}{lock}", id=lead_id
        )
        return lead_from_row(rows[0]) if rows else None

    def update(self, lead: Lead) -> None:
        self._conn.run(
            f"UPDATE leads SET {', '.join(f'{c} = {_value(c)}' for c in _WRITABLE)} WHERE id = :id",
            id=lead.id,
            **_params(lead, _WRITABLE),
        )

    def find(self, filters: RecordFilters, sort: RecordSort, page: PageRequest) -> Page[Lead]:
        rows = find_page(self._conn, _SOURCE, filters, sort, page)
        return Page.from_rows([lead_from_row(r) for r in rows], page.limit, lead_keyset(sort))

    def find_every(self, filters: RecordFilters, sort: RecordSort) -> Iterator[list[Lead]]:
        keyset = lead_keyset(sort)
        for rows in find_every(
            self._conn, _SOURCE, filters, sort, lambda row: keyset(lead_from_row(row))
        ):
            yield [lead_from_row(row) for row in rows]

    def lock_identities(self, keys: Sequence[str]) -> None:
        lock_identities(self._conn, "lead", keys)

    def find_duplicate(
        self, email: str | None, phone_digits: str | None, exclude_id: uuid.UUID | None
    ) -> tuple[uuid.UUID, str] | None:
        return find_duplicate(self._conn, "leads", email, phone_digits, exclude_id)

    def merged_into(self, lead_id: uuid.UUID) -> list[uuid.UUID]:
        """The leads merged into `lead_id` (their histories are part of its history)."""
        rows = self._conn.run("SELECT id FROM leads WHERE merged_into = :id", id=lead_id)
        return [row[0] for row in rows]

    def repoint_merged(self, from_id: uuid.UUID, to_id: uuid.UUID) -> None:
        self._conn.run(
            "UPDATE leads SET merged_into = :to_id WHERE merged_into = :from_id",
            to_id=to_id,
            from_id=from_id,
        )

    def repoint_deals(self, from_id: uuid.UUID, to_id: uuid.UUID) -> None:
        """Deals of a merged lead follow it into the remaining one."""
        self._conn.run(
            "UPDATE deals SET lead_id = :to_id, version = version + 1, updated_at = now()"
            " WHERE lead_id = :from_id",
            to_id=to_id,
            from_id=from_id,
        )

    def is_active_user(self, user_id: uuid.UUID) -> bool:
        return bool(
            self._conn.run("SELECT 1 FROM users WHERE id = :id AND status = 'active'", id=user_id)
        )

    def purge_deleted(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` records soft-deleted before `before`, for good (their history,
        notes and search row cascade; deals and other records referring to them let go)."""
        rows = self._conn.run(
            "DELETE FROM leads WHERE id IN (SELECT id FROM leads"
            " WHERE deleted_at < :before ORDER BY deleted_at LIMIT :limit) RETURNING 1",
            before=before,
            limit=limit,
        )
        return len(rows)
