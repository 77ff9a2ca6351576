"""Lead imports: the job rows and their per-row error reports. SQL only; never commits."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import pg8000.native

from crm.domain.imports import DedupPolicy, ImportJob, ImportStatus, RowError
from crm.domain.pagination import Keyset

_COLUMNS = (
    "id", "tenant_id", "mapping", "dedup_policy", "object_key", "file_name", "owner_id",
    "default_tags", "trigger_automations", "status", "total_rows", "processed_rows", "created_count", "updated_count",
    "skipped_count", "failed_count", "failure", "created_by", "created_at", "started_at",
    "finished_at", "updated_at", "attempts",
)  # fmt: skip
_SELECT = ", ".join(_COLUMNS)


def _job(row: Sequence[Any]) -> ImportJob:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["dedup_policy"] = DedupPolicy(values["dedup_policy"])
    values["status"] = ImportStatus(values["status"])
    values["mapping"] = dict(values["mapping"])
    values["default_tags"] = list(values["default_tags"] or [])
    return ImportJob(**values)


class PostgresImports:
    def __init__(self, conn: pg8000.native.Connection) -> None:
        self._conn = conn

    def add(self, job: ImportJob) -> None:
        self._conn.run(
            "INSERT INTO imports (id, tenant_id, entity, status, object_key, file_name, mapping,"
            " dedup_policy, owner_id, default_tags, trigger_automations, created_by, created_at,"
            " updated_at)"
            " VALUES (:id, :tenant_id, 'lead', :status, :object_key, :file_name,"
            " CAST(:mapping AS jsonb), :dedup, :owner_id, CAST(:tags AS text[]), :automations,"
            " :created_by, :created_at, :created_at)",
            id=job.id,
            tenant_id=job.tenant_id,
            status=job.status.value,
            object_key=job.object_key,
            file_name=job.file_name,
            mapping=json.dumps(job.mapping),
            dedup=job.dedup_policy.value,
            owner_id=job.owner_id,
            tags=list(job.default_tags),
            automations=job.trigger_automations,
            created_by=job.created_by,
            created_at=job.created_at,
        )

    def page(
        self, limit: int, after: Keyset | None, created_by: uuid.UUID | None = None
    ) -> list[ImportJob]:
        rows = self._conn.run(
            f"SELECT {_SELECT} FROM imports"
            " WHERE (CAST(:after_at AS timestamptz) IS NULL"
            "        OR (created_at, id) < (CAST(:after_at AS timestamptz), CAST(:after_id AS uuid)))"
            " AND (CAST(:created_by AS uuid) IS NULL OR created_by IS NULL"
            "      OR created_by = CAST(:created_by AS uuid))"
            " ORDER BY created_at DESC, id DESC LIMIT :limit",
            after_at=after.value if after else None,
            after_id=after.id if after else None,
            created_by=created_by,
            limit=limit,
        )
        return [_job(row) for row in rows]

    def get(self, import_id: uuid.UUID, *, for_update: bool = False) -> ImportJob | None:
        lock = " FOR UPDATE" if for_update else ""
        rows = self._conn.run(f"SELECT {_SELECT} FROM imports WHERE id = :id{lock}", id=import_id)
        return _job(rows[0]) if rows else None

    def save(self, job: ImportJob) -> None:
        """Status, counters and times (what a run changes)."""
        self._conn.run(
            "UPDATE imports SET status = :status, total_rows = :total, processed_rows = :processed,"
            " created_count = :created, updated_count = :updated, skipped_count = :skipped,"
            " failed_count = :failed, failure = :failure, started_at = :started,"
            " finished_at = :finished, updated_at = now(), attempts = :attempts WHERE id = :id",
            id=job.id,
            status=job.status.value,
            total=job.total_rows,
            processed=job.processed_rows,
            created=job.created_count,
            updated=job.updated_count,
            skipped=job.skipped_count,
            failed=job.failed_count,
            failure=job.failure,
            started=job.started_at,
            finished=job.finished_at,
            attempts=job.attempts,
        )

    def add_row_errors(self, import_id: uuid.UUID, errors: Sequence[RowError]) -> None:
        if not errors:
            return
        self._conn.run(
            "INSERT INTO import_row_errors (tenant_id, import_id, row_number, errors)"
            " SELECT app_tenant_id(), :import_id, n, e FROM unnest(CAST(:rows AS integer[]),"
            " CAST(:errors AS jsonb[])) AS t(n, e) ON CONFLICT DO NOTHING",
            import_id=import_id,
            rows=[error.row for error in errors],
            errors=[json.dumps(error.errors) for error in errors],
        )

    def row_errors(self, import_id: uuid.UUID, after_row: int, limit: int) -> list[RowError]:
        rows = self._conn.run(
            "SELECT row_number, errors FROM import_row_errors WHERE import_id = :id"
            " AND row_number > :after ORDER BY row_number LIMIT :limit",
            id=import_id,
            after=after_row,
            limit=limit,
        )
        return [RowError(row[0], list(row[1])) for row in rows]
