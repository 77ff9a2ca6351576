"""The SQL leads and contacts share: their tables have the same shape where it matters (id,
tenant_id, owner, email/phone with phone_digits, tags as text[], custom_fields as jsonb,
version, deleted_at), so reading, writing, listing, the duplicate lookup and the purge are
one repository parametrised by a PersonTable. SQL only, parameterised; never commits.

crm.adapters.postgres.leads / contacts declare their table and add what only one kind has
(a lead's bulk insert for imports, merges and deal repointing)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Generic, Protocol, TypeVar

import pg8000.native

from crm.adapters.postgres.record_lists import (
    ListSource,
    find_duplicate,
    find_every,
    find_page,
    lock_identities,
)
from crm.domain.pagination import Keyset, Page, PageRequest
from crm.domain.records import RecordFilters, RecordSort, RecordSortField

# Columns an update never writes: they are fixed when the record is created.
_FIXED = ("id", "tenant_id", "created_by", "created_at")
# Bind parameters that pg8000 would not type as the columns need.
_CASTS = {"tags": "CAST(:tags AS text[])", "custom_fields": "CAST(:custom_fields AS jsonb)"}


class PersonRow(Protocol):
    """What the repository needs of a Lead or a Contact besides its columns."""

    id: uuid.UUID

    def sort_value(self, sort: RecordSortField) -> Any: ...


R = TypeVar("R", bound=PersonRow)


@dataclass(frozen=True)
class PersonTable(Generic[R]):
    """A person record's table: its columns (the record's constructor arguments, by name) and
    how a row becomes the record."""

    table: str
    alias: str
    kind: str  # what crm_search_records() and the identity locks call the kind
    columns: tuple[str, ...]
    record: Callable[..., R]  # the record's class: called with a value per column
    # Columns whose database value becomes a domain type first (a lead's status enum).
    column_types: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)

    @property
    def select(self) -> str:
        return ", ".join(f"{self.alias}.{c}" for c in self.columns)

    @property
    def list_source(self) -> ListSource:
        return ListSource(self.table, self.alias, self.select, self.kind)

    @property
    def writable(self) -> tuple[str, ...]:
        return tuple(c for c in self.columns if c not in _FIXED)

    def from_row(self, row: Sequence[Any]) -> R:
        values = dict(zip(self.columns, row, strict=True))
        for column, to_type in self.column_types.items():
            values[column] = to_type(values[column])
        values["tags"] = list(values["tags"] or [])
        values["custom_fields"] = dict(values["custom_fields"] or {})
        return self.record(**values)

    def keyset(self, sort: RecordSort) -> Callable[[R], Keyset]:
        """A record's position in `sort` order (what a cursor holds)."""

        def keyset(record: R) -> Keyset:
            value = record.sort_value(sort.field)
            # Postgres returns smallint sort values as ints, cursors compare them as numbers.
            if sort.field is RecordSortField.SCORE and value is not None:
                value = Decimal(value)
            return Keyset(value, record.id)

        return keyset


def value_sql(column: str) -> str:
    """The SQL of a column's bind parameter."""
    return _CASTS.get(column, f":{column}")


def row_params(record: Any, columns: Sequence[str]) -> dict[str, Any]:
    """A record's columns as bind parameters."""
    params: dict[str, Any] = {}
    for column in columns:
        value = getattr(record, column)
        if isinstance(value, Enum):
            value = value.value
        elif column == "custom_fields":
            value = json.dumps(value)
        elif column == "tags":
            value = list(value)
        params[column] = value
    return params


class PostgresPersonRepository(Generic[R]):
    """Reads and writes one kind of person record; subclasses name the table (TABLE)."""

    TABLE: PersonTable[R]

    def __init__(self, conn: pg8000.native.Connection) -> None:
        self._conn = conn

    def add(self, record: R) -> None:
        columns = self.TABLE.columns
        self._conn.run(
            f"INSERT INTO {self.TABLE.table} ({', '.join(columns)})"
            f" VALUES ({', '.join(value_sql(c) for c in columns)})",
            **row_params(record, columns),
        )

    def get(
        self, record_id: uuid.UUID, *, for_update: bool = False, include_deleted: bool = False
    ) -> R | None:
        t = self.TABLE
        live = "" if include_deleted else f" AND {t.alias}.deleted_at IS NULL"
        lock = " FOR UPDATE" if for_update else ""
        rows = self._conn.run(
            f"SELECT {t.select} FROM {t.table} {t.alias} WHERE {t.alias}.id = :id{live}{lock}",
            id=record_id,
        )
        return t.from_row(rows[0]) if rows else None

    def update(self, record: R) -> None:
        writable = self.TABLE.writable
        self._conn.run(
            f"UPDATE {self.TABLE.table} SET {', '.join(f'{c} = {value_sql(c)}' for c in writable)}"
            " WHERE id = :id",
            id=record.id,
            **row_params(record, writable),
        )

    def find(self, filters: RecordFilters, sort: RecordSort, page: PageRequest) -> Page[R]:
        t = self.TABLE
        rows = find_page(self._conn, t.list_source, filters, sort, page)
        return Page.from_rows([t.from_row(r) for r in rows], page.limit, t.keyset(sort))

    def find_every(self, filters: RecordFilters, sort: RecordSort) -> Iterator[list[R]]:
        t = self.TABLE
        keyset = t.keyset(sort)
        for rows in find_every(
            self._conn, t.list_source, filters, sort, lambda row: keyset(t.from_row(row))
        ):
            yield [t.from_row(row) for row in rows]

    def lock_identities(self, keys: Sequence[str]) -> None:
        lock_identities(self._conn, self.TABLE.kind, keys)

    def find_duplicate(
        self, email: str | None, phone_digits: str | None, exclude_id: uuid.UUID | None
    ) -> tuple[uuid.UUID, str] | None:
        return find_duplicate(self._conn, self.TABLE.table, email, phone_digits, exclude_id)

    def purge_deleted(self, before: datetime, limit: int) -> int:
        """Delete up to `limit` records soft-deleted before `before`, for good (their history,
        notes and search row cascade; deals and other records referring to them let go)."""
        table = self.TABLE.table
        rows = self._conn.run(
            f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table}"
            " WHERE deleted_at < :before ORDER BY deleted_at LIMIT :limit) RETURNING 1",
            before=before,
            limit=limit,
        )
        return len(rows)
