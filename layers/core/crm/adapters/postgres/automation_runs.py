"""Reading automation runs back: the runs list, one run with its workflow version, event and
action ledger, and the cached outcome of finished executions. SQL only; never commits."""

from __future__ import annotations

import uuid
from typing import Any

import pg8000.native

from crm.domain.pagination import Keyset
from crm.domain.run_inspection import (
    LedgerEntry,
    RunDetail,
    RunFilters,
    RunRecord,
    RunStatus,
)

_RUN_COLUMNS = (
    "r.id, r.automation_id, v.version, r.event_id, r.event_type, r.subject, r.status,"
    " r.created_at, r.finished_at, r.execution_arn, r.reason, r.attempt"
)


class PostgresAutomationRunRecords:
    def __init__(self, conn: pg8000.native.Connection) -> None:
        self._conn = conn

    def newest(
        self,
        automation_id: uuid.UUID,
        filters: RunFilters,
        after: Keyset | None,
        limit: int,
        *,
        also_running: bool = False,
    ) -> list[RunRecord]:
        """The automation's runs, newest first. `also_running` adds runs whose cached status
        is still 'running' whatever `filters.statuses` says: their real status may be one of
        them (the caller describes them and filters again)."""
        statuses: list[str] | None = list(filters.statuses) or None
        if statuses is not None and also_running:
            statuses.append("running")
        rows = self._conn.run(
            f"SELECT {_RUN_COLUMNS} FROM automation_runs r"
            " JOIN automation_versions v ON v.id = r.version_id"
            " WHERE r.automation_id = :automation_id"
            "   AND (CAST(:statuses AS text[]) IS NULL"
            "        OR r.status = ANY(CAST(:statuses AS text[])))"
            "   AND (CAST(:created_after AS timestamptz) IS NULL"
            "        OR r.created_at >= CAST(:created_after AS timestamptz))"
            "   AND (CAST(:created_before AS timestamptz) IS NULL"
            "        OR r.created_at < CAST(:created_before AS timestamptz))"
            "   AND (CAST(:after_value AS timestamptz) IS NULL"
            "        OR (r.created_at, r.id) < (CAST(:after_value AS timestamptz),"
            "                                   CAST(:after_id AS uuid)))"
            " ORDER BY r.created_at DESC, r.id DESC LIMIT :limit",
            automation_id=automation_id,
            statuses=statuses,
            created_after=filters.created_after,
            created_before=filters.created_before,
            after_value=after.value if after is not None else None,
            after_id=str(after.id) if after is not None else None,
            limit=limit,
        )
        return [_run_record(row) for row in rows]

    def get(self, run_id: uuid.UUID) -> RunDetail | None:
        rows = self._conn.run(
            f"SELECT {_RUN_COLUMNS}, a.name, v.definition, o.envelope"
            " FROM automation_runs r"
            " JOIN automation_versions v ON v.id = r.version_id"
            " JOIN automations a ON a.id = r.automation_id"
            " LEFT JOIN outbox o ON o.id = r.event_id"
            " WHERE r.id = :id",
            id=run_id,
        )
        if not rows:
            return None
        row = rows[0]
        ledger = self._conn.run(
            "SELECT step_id, kind, result, executed_at FROM action_executions"
            " WHERE run_id = :run_id",
            run_id=run_id,
        )
        return RunDetail(
            run=_run_record(row[:12]),
            automation_name=row[12],
            definition=row[13],
            envelope=row[14],
            ledger={entry[0]: LedgerEntry(*entry) for entry in ledger},
        )

    def record_outcome(self, run: RunRecord) -> bool:
        """Caches a finished execution's status; a run already recorded as finished keeps
        its first recorded outcome. (Step Functions can redrive a failed execution; nothing in
        this product redrives one, so an ended execution's outcome is final here.)"""
        rows = self._conn.run(
            "UPDATE automation_runs SET status = :status, finished_at = :finished_at"
            " WHERE id = :id AND status = 'running' RETURNING id",
            status=run.status,
            finished_at=run.finished_at,
            id=run.id,
        )
        return bool(rows)


def _run_record(row: list[Any]) -> RunRecord:
    status: RunStatus = row[6]
    return RunRecord(
        id=row[0],
        automation_id=row[1],
        version=row[2],
        event_id=row[3],
        event_type=row[4],
        subject=row[5],
        status=status,
        created_at=row[7],
        finished_at=row[8],
        execution_arn=row[9],
        reason=row[10],
        attempt=row[11],
    )
