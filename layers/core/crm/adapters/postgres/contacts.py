"""Contacts: SQL only, parameterised; never commits."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
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
from crm.domain.contacts import Contact
from crm.domain.pagination import Keyset, Page, PageRequest
from crm.domain.records import RecordFilters, RecordSort

_COLUMNS = (
    "id",
    "tenant_id",
    "name",
    "email",
    "phone",
    "company",
    "job_title",
    "owner_id",
    "tags",
    "category",
    "custom_fields",
    "lead_id",
    "created_by",
    "created_at",
    "updated_at",
    "deleted_at",
    "version",
)
_SELECT = ", ".join(f"c.{c}" for c in _COLUMNS)
_SOURCE = ListSource("contacts", "c", _SELECT, "contact")
_WRITABLE = tuple(c for c in _COLUMNS if c not in ("id", "tenant_id", "created_by", "created_at"))
_CASTS = {"tags": "CAST(:tags AS text[])", "custom_fields": "CAST(:custom_fields AS jsonb)"}


def _value(column: str) -> str:
    return _CASTS.get(column, f":{column}")


def _params(contact: Contact, columns: Sequence[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for column in columns:
        value = getattr(contact, column)
        if column == "custom_fields":
            value = json.dumps(value)
        elif column == "tags":
            value = list(value)
        params[column] = value
    return params


def contact_from_row(row: Sequence[Any]) -> Contact:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["tags"] = list(values["tags"] or [])
    values["custom_fields"] = dict(values["custom_fields"] or {})
    return Contact(**values)


def contact_list_query(
    filters: RecordFilters,
    sort: RecordSort,
    page: PageRequest,
    search_ids: Sequence[uuid.UUID] | None = None,
) -> tuple[str, dict[str, Any]]:
    return list_query(_SOURCE, filters, sort, page, search_ids)


class PostgresContactRepository:
    def __init__(self, conn: pg8000.native.Connection) -> None:
        self._conn = conn

    def add(self, contact: Contact) -> None:
        self._conn.run(
            f"INSERT INTO contacts ({', '.join(_COLUMNS)})"
            f" VALUES ({', '.join(_value(c) for c in _COLUMNS)})",
            **_params(contact, _COLUMNS),
        )

    def get(
        self, contact_id: uuid.UUID, *, for_update: bool = False, include_deleted: bool = False
    ) -> Contact | None:
        live = "" if include_deleted else " AND c.deleted_at IS NULL"
        lock = " FOR UPDATE" if for_update else ""
        rows = self._conn.run(
            f"SELECT {_SELECT} FROM contacts c WHERE c.id = :id{live}{lock}", id=contact_id
        )
        return contact_from_row(rows[0]) if rows else None

    def update(self, contact: Contact) -> None:
        self._conn.run(
            f"UPDATE contacts SET {', '.join(f'{c} = {_value(c)}' for c in _WRITABLE)}"
            " WHERE id = :id",
            id=contact.id,
            **_params(contact, _WRITABLE),
        )

    def find(self, filters: RecordFilters, sort: RecordSort, page: PageRequest) -> Page[Contact]:
        rows = find_page(self._conn, _SOURCE, filters, sort, page)
        return Page.from_rows(
            [contact_from_row(r) for r in rows],
            page.limit,
            lambda c: Keyset(c.sort_value(sort.field), c.id),
        )

    def find_every(self, filters: RecordFilters, sort: RecordSort) -> Iterator[list[Contact]]:
        def keyset(row: Sequence[Any]) -> Keyset:
            contact = contact_from_row(row)
            return Keyset(contact.sort_value(sort.field), contact.id)

        for rows in find_every(self._conn, _SOURCE, filters, sort, keyset):
            yield [contact_from_row(row) for row in rows]

    def lock_identities(self, keys: Sequence[str]) -> None:
        lock_identities(self._conn, "contact", keys)

    def find_duplicate(
        self, email: str | None, phone_digits: str | None, exclude_id: uuid.UUID | None
    ) -> tuple[uuid.UUID, str] | None:
        return find_duplicate(self._conn, "contacts", email, phone_digits, exclude_id)

    def purge_deleted(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` records soft-deleted before `before`, for good (their history,
        notes and search row cascade; deals and other records referring to them let go)."""
        rows = self._conn.run(
            "DELETE FROM contacts WHERE id IN (SELECT id FROM contacts"
            " WHERE deleted_at < :before ORDER BY deleted_at LIMIT :limit) RETURNING 1",
            before=before,
            limit=limit,
        )
        return len(rows)
