"""List queries of leads and contacts: filters, keyset pagination, search. SQL only.

A query is composed from fixed fragments (column names come from the sort enum and this
module, never from the request); every value is a bind parameter. Each sort and equality
filter has a btree index leading with tenant_id (0007_crm_core.sql).

`q`, tags and custom fields go in two steps (row-level security keeps their GIN indexes on the
record table unusable: see the migration). First crm_search_records() returns up to
SEARCH_ID_LIMIT + 1 matching ids from the search table's GIN indexes. At most SEARCH_ID_LIMIT:
the list reads exactly those records. More: the filter is broad, and the list filters the
records' own columns instead while it walks its order index, which finds a page quickly when
many records match.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pg8000.native

from crm.domain.pagination import Keyset, PageRequest
from crm.domain.records import RecordFilters, RecordSort, RecordSortField

MAX_SEARCH_WORDS = 5
SEARCH_ID_LIMIT = 2000

_SORT_COLUMNS = {
    RecordSortField.CREATED_AT: "created_at",
    RecordSortField.UPDATED_AT: "updated_at",
    RecordSortField.NAME: "name",
    RecordSortField.SCORE: "score",
}


@dataclass(frozen=True)
class ListSource:
    """The table a list reads, the columns it selects (as `alias.column`), and the record kind
    crm_search_records() knows it by."""

    table: str
    alias: str
    columns: str
    kind: str


def search_words(q: str) -> list[str]:
    """The words of a search, LIKE-escaped (a literal % or _ matches itself)."""
    words = [w for w in q.split() if w][:MAX_SEARCH_WORDS]
    return [w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for w in words]


def keyset_condition(column: str, id_column: str, sort: RecordSort, value: Any) -> str:
    """The WHERE fragment for "after this row" in `sort` order. NULLs (score only) sort last
    ascending and first descending (Postgres' defaults: one btree serves both directions)."""
    if not sort.field.nullable or value is not None:
        op = "<" if sort.descending else ">"
        condition = f"({column}, {id_column}) {op} (:after_value, :after_id)"
        if sort.field.nullable and not sort.descending:
            condition = f"({condition} OR {column} IS NULL)"
        return condition
    if sort.descending:
        return f"(({column} IS NULL AND {id_column} < :after_id) OR {column} IS NOT NULL)"
    return f"({column} IS NULL AND {id_column} > :after_id)"


def has_search(filters: RecordFilters) -> bool:
    return bool(filters.q and search_words(filters.q)) or bool(
        filters.tags or filters.custom_fields
    )


def search_ids_query(
    source: ListSource, filters: RecordFilters, limit: int = SEARCH_ID_LIMIT
) -> tuple[str, dict[str, Any]]:
    """Up to `limit` + 1 ids of live records matching q, tags and custom fields."""
    return (
        "SELECT crm_search_records(:kind, CAST(:words AS text[]), CAST(:tags AS text[]),"
        " CAST(:custom_fields AS jsonb), :limit)",
        {
            "kind": source.kind,
            "words": search_words(filters.q) if filters.q else [],
            "tags": list(filters.tags),
            "custom_fields": json.dumps(filters.custom_fields),
            "limit": limit + 1,
        },
    )


def filter_conditions(
    source: ListSource, filters: RecordFilters, search_ids: Sequence[uuid.UUID] | None
) -> tuple[list[str], dict[str, Any]]:
    a = source.alias
    conditions = [f"{a}.deleted_at IS NOT NULL" if filters.deleted else f"{a}.deleted_at IS NULL"]
    params: dict[str, Any] = {}
    simple = (
        ("owner_id", f"{a}.owner_id = :owner_id"),
        ("category", f"{a}.category = :category"),
        ("source", f"{a}.source = :source"),
        ("created_after", f"{a}.created_at >= :created_after"),
        ("created_before", f"{a}.created_at < :created_before"),
        ("updated_after", f"{a}.updated_at >= :updated_after"),
        ("updated_before", f"{a}.updated_at < :updated_before"),
        ("visible_to", f"({a}.owner_id = :visible_to OR {a}.owner_id IS NULL)"),
    )
    for name, condition in simple:
        value = getattr(filters, name)
        if value is not None:
            conditions.append(condition)
            params[name] = value
    if filters.unassigned:
        conditions.append(f"{a}.owner_id IS NULL")
    if filters.statuses:
        if len(filters.statuses) == 1:
            conditions.append(f"{a}.status = :status")
            params["status"] = filters.statuses[0]
        else:
            conditions.append(f"{a}.status = ANY(CAST(:statuses AS text[]))")
            params["statuses"] = list(filters.statuses)
    if search_ids is not None:
        conditions.append(f"{a}.id = ANY(CAST(:search_ids AS uuid[]))")
        params["search_ids"] = [str(i) for i in search_ids]
        return conditions, params
    words = search_words(filters.q) if filters.q else []
    if words:
        # the words are normalised once (an init plan), not per row
        conditions.append(
            f"crm_contains_words({a}.search_document, ARRAY(SELECT crm_search_text(w)"
            " FROM unnest(CAST(:words AS text[])) AS w))"
        )
        params["words"] = words
    if filters.tags:
        conditions.append(f"{a}.tags @> CAST(:tags AS text[])")
        params["tags"] = list(filters.tags)
    if filters.custom_fields:
        conditions.append(f"{a}.custom_fields @> CAST(:custom_fields AS jsonb)")
        params["custom_fields"] = json.dumps(filters.custom_fields)
    return conditions, params


class PagePosition(Protocol):
    @property
    def limit(self) -> int: ...
    @property
    def after(self) -> Keyset | None: ...


def list_query(
    source: ListSource,
    filters: RecordFilters,
    sort: RecordSort,
    page: PagePosition,
    search_ids: Sequence[uuid.UUID] | None = None,
) -> tuple[str, dict[str, Any]]:
    """The SQL and parameters of one page (limit + 1 rows: one more means a next page).
    `search_ids`: what crm_search_records() returned for the filters, when selective."""
    a = source.alias
    conditions, params = filter_conditions(source, filters, search_ids)
    column = f"{a}.{_SORT_COLUMNS[sort.field]}"
    if page.after is not None:
        conditions.append(keyset_condition(column, f"{a}.id", sort, page.after.value))
        params["after_id"] = page.after.id
        if page.after.value is not None:
            params["after_value"] = page.after.value
    direction = "DESC" if sort.descending else "ASC"
    sql = (
        f"SELECT {source.columns} FROM {source.table} {a} WHERE {' AND '.join(conditions)}"
        f" ORDER BY {column} {direction}, {a}.id {direction} LIMIT :limit"
    )
    return sql, {**params, "limit": page.limit + 1}


# ------------------------------------------------------------------ duplicates


def lock_identities(conn: pg8000.native.Connection, kind: str, keys: Sequence[str]) -> None:
    """Serialise writers of the same email/phone of a record kind in this tenant until commit
    (what makes the duplicate check race-free: every writer that sets an email or phone takes
    its lock first). One statement for any number of keys (an import locks a batch's), taken
    in byte order (COLLATE "C"), the same for every writer, so two cannot deadlock."""
    if not keys:
        return
    conn.run(
        "SELECT count(pg_advisory_xact_lock(hashtextextended("
        "CAST(app_tenant_id() AS text) || ':' || :kind || ':' || k, 0)))"
        ' FROM (SELECT DISTINCT k COLLATE "C" AS k FROM unnest(CAST(:keys AS text[])) AS k'
        " ORDER BY 1) AS ordered",
        kind=kind,
        keys=list(keys),
    )


def find_duplicate(
    conn: pg8000.native.Connection,
    table: str,
    email: str | None,
    phone_digits: str | None,
    exclude_id: uuid.UUID | None,
) -> tuple[uuid.UUID, str] | None:
    """A live record of `table` (other than `exclude_id`) using the email or the phone's
    digits, email first: (id, "email" | "phone")."""
    if email is None and phone_digits is None:
        return None
    matches = []
    params: dict[str, Any] = {"exclude": exclude_id or uuid.UUID(int=0)}
    if email is not None:
        matches.append(f"(SELECT id, 'email', 1 FROM {table} WHERE email = :email")
        params["email"] = email
    if phone_digits is not None:
        matches.append(f"(SELECT id, 'phone', 2 FROM {table} WHERE phone_digits = :digits")
        params["digits"] = phone_digits
    union = " UNION ALL ".join(
        f"{m} AND deleted_at IS NULL AND id <> :exclude ORDER BY created_at LIMIT 1)"
        for m in matches
    )
    rows = conn.run(f"SELECT * FROM ({union}) found ORDER BY 3 LIMIT 1", **params)
    return (rows[0][0], rows[0][1]) if rows else None


def find_every(
    conn: pg8000.native.Connection,
    source: ListSource,
    filters: RecordFilters,
    sort: RecordSort,
    keyset_of: Callable[[Sequence[Any]], Keyset],
    *,
    page_size: int = 1000,
) -> Iterator[list[Any]]:
    """Every row of a list, in pages (an export): the search is resolved once, not per page."""
    search_ids = None
    if has_search(filters) and not filters.deleted:
        sql, params = search_ids_query(source, filters)
        ids = [row[0] for row in conn.run(sql, **params)]
        if len(ids) <= SEARCH_ID_LIMIT:
            search_ids = ids
    after = None
    while True:
        request = _Page(page_size, after)
        sql, params = list_query(source, filters, sort, request, search_ids)
        rows: list[Any] = conn.run(sql, **params)
        yield rows[:page_size]
        if len(rows) <= page_size:
            return
        after = keyset_of(rows[page_size - 1])


@dataclass(frozen=True)
class _Page:
    """A page of an export: PageRequest's shape without the API's 200-row cap."""

    limit: int
    after: Keyset | None


def find_page(
    conn: pg8000.native.Connection,
    source: ListSource,
    filters: RecordFilters,
    sort: RecordSort,
    page: PageRequest,
    *,
    search_id_limit: int = SEARCH_ID_LIMIT,
) -> list[Any]:
    """The rows of one page (limit + 1), searching in the two steps described above."""
    search_ids = None
    if has_search(filters) and not filters.deleted:
        sql, params = search_ids_query(source, filters, search_id_limit)
        ids = [row[0] for row in conn.run(sql, **params)]
        if len(ids) <= search_id_limit:
            search_ids = ids
    sql, params = list_query(source, filters, sort, page, search_ids)
    rows: list[Any] = conn.run(sql, **params)
    return rows
