"""GET /reports/automations reads automation_runs (one row per started run, its outcome cached
by migration 0014): runs per automation, day and status in a period. SQL only; never commits.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import pg8000.native

from crm.domain.run_inspection import RunRecord, RunStatus


class PostgresAutomationRunStats:
    def __init__(self, conn: pg8000.native.Connection) -> None:
        self._conn = conn

    def counts(self, start: datetime, end: datetime) -> list[tuple[uuid.UUID, str, date, str, int]]:
        """(automation id, name, UTC day, cached status, runs) for the runs started in
        [start, end), the tenant's by RLS."""
        rows = self._conn.run(
            "SELECT r.automation_id, a.name, CAST(timezone('UTC', r.created_at) AS date) AS day,"
            "       r.status, count(*)"
            " FROM automation_runs r JOIN automations a ON a.id = r.automation_id"
            " WHERE r.created_at >= :start AND r.created_at < :end"
            " GROUP BY r.automation_id, a.name, day, r.status"
            " ORDER BY a.name, r.automation_id, day, r.status",
            start=start,
            end=end,
        )
        return [(row[0], row[1], row[2], row[3], int(row[4])) for row in rows]

    def still_running(self, start: datetime, end: datetime, limit: int) -> list[RunRecord]:
        """Runs started in [start, end) whose cached status is still 'running' and that have
        an execution to ask about, oldest first (the likeliest to have finished)."""
        rows = self._conn.run(
            "SELECT r.id, r.automation_id, v.version, r.event_id, r.event_type, r.subject,"
            "       r.status, r.created_at, r.finished_at, r.execution_arn"
            " FROM automation_runs r JOIN automation_versions v ON v.id = r.version_id"
            " WHERE r.status = 'running' AND r.execution_arn IS NOT NULL"
            "   AND r.created_at >= :start AND r.created_at < :end"
            " ORDER BY r.created_at, r.id LIMIT :limit",
            start=start,
            end=end,
            limit=limit,
        )
        return [_record(row) for row in rows]


def _record(row: list[Any]) -> RunRecord:
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
    )
