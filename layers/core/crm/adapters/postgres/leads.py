"""Leads: SQL only, parameterised; never commits. What leads share with contacts is in
crm.adapters.postgres.person_tables; here: the table and what only leads have (bulk insert
for imports, merges, deal repointing)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from crm.adapters.postgres.person_tables import PersonTable, PostgresPersonRepository, row_params
from crm.adapters.postgres.record_lists import list_query
from crm.domain.leads import Lead, LeadStatus
from crm.domain.pagination import PageRequest
from crm.domain.records import RecordFilters, RecordSort

LEAD_TABLE = PersonTable(
    table="leads",
    alias="l",
    kind="lead",
    # In this order: rows of the list SQL are read by position (tests, benches).
    columns=(
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
    ),
    record=Lead,
    column_types={"status": LeadStatus},
)
LEAD_LIST = LEAD_TABLE.list_source

# add_many: the rows as one JSON document, typed by jsonb_to_recordset.
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


def lead_list_query(
    filters: RecordFilters,
    sort: RecordSort,
    page: PageRequest,
    search_ids: Sequence[uuid.UUID] | None = None,
) -> tuple[str, dict[str, Any]]:
    return list_query(LEAD_LIST, filters, sort, page, search_ids)


class PostgresLeadRepository(PostgresPersonRepository[Lead]):
    TABLE = LEAD_TABLE

    def add_many(self, leads: Sequence[Lead]) -> None:
        """One INSERT for many leads (an import's batch). The rows travel as one JSON document:
        thousands of bind parameters cost the driver more than the database."""
        if not leads:
            return
        columns = LEAD_TABLE.columns
        rows = [{c: _json_value(v) for c, v in row_params(lead, columns).items()} for lead in leads]
        for row, lead in zip(rows, leads, strict=True):
            row["custom_fields"], row["tags"] = lead.custom_fields, list(lead.tags)
        self._conn.run(
            f"INSERT INTO leads ({', '.join(columns)}) SELECT"
            f" {', '.join(_RECORDSET_SELECT.get(c, 'r.' + c) for c in columns)}"
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
