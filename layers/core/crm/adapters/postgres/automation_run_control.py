"""automation_runs for the router's policies and for run control (retry, cancel, skipped runs).
SQL only; never commits."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pg8000.native

_RUN = (
    "r.id, r.automation_id, r.version_id, v.version, r.event_id, r.execution_name,"
    " r.execution_arn, r.status, r.attempt, r.subject, r.created_at, v.state_machine_arn,"
    " o.envelope"
)


class PostgresRunControl:
    def __init__(self, conn: pg8000.native.Connection, tenant_id: uuid.UUID) -> None:
        self._conn = conn
        self._tenant_id = tenant_id

    def add_skipped(
        self,
        run_id: uuid.UUID,
        automation_id: uuid.UUID,
        version_id: uuid.UUID,
        event_id: uuid.UUID,
        execution_name: str,
        reason: str,
        subject: str | None,
        event_type: str,
    ) -> bool:
        rows = self._conn.run(
            "INSERT INTO automation_runs (id, tenant_id, automation_id, version_id, event_id,"
            " execution_name, status, reason, finished_at, subject, event_type)"
            " VALUES (:id, :tenant_id, :automation_id, :version_id, :event_id, :name,"
            " 'skipped', :reason, now(), :subject, :event_type)"
            " ON CONFLICT (version_id, event_id) DO NOTHING RETURNING id",
            id=run_id,
            tenant_id=self._tenant_id,
            automation_id=automation_id,
            version_id=version_id,
            event_id=event_id,
            name=execution_name,
            reason=reason,
            subject=subject,
            event_type=event_type,
        )
        return bool(rows)

    def has_run_for(self, automation_id: uuid.UUID, subject: str) -> bool:
        rows = self._conn.run(
            "SELECT 1 FROM automation_runs WHERE automation_id = :automation_id"
            " AND subject = :subject AND status <> 'skipped' LIMIT 1",
            automation_id=automation_id,
            subject=subject,
        )
        return bool(rows)

    def running_for(self, automation_id: uuid.UUID, subject: str) -> list[dict[str, Any]]:
        return self._select(
            "r.automation_id = :automation_id AND r.subject = :subject AND r.status = 'running'",
            automation_id=automation_id,
            subject=subject,
        )

    def running(self, automation_id: uuid.UUID) -> list[dict[str, Any]]:
        return self._select(
            "r.automation_id = :automation_id AND r.status = 'running'",
            automation_id=automation_id,
        )

    def get(self, run_id: uuid.UUID, *, for_update: bool = False) -> dict[str, Any] | None:
        rows = self._select("r.id = :id", id=run_id, lock=for_update)
        return rows[0] if rows else None

    def failed_between(
        self, automation_id: uuid.UUID, start: datetime, end: datetime, limit: int
    ) -> list[uuid.UUID]:
        rows = self._conn.run(
            "SELECT id FROM automation_runs WHERE automation_id = :automation_id"
            " AND status = 'failed' AND created_at >= :start AND created_at < :end"
            " ORDER BY created_at, id LIMIT :limit",
            automation_id=automation_id,
            start=start,
            end=end,
            limit=limit,
        )
        return [row[0] for row in rows]

    def finish(
        self, run_id: uuid.UUID, status: str, reason: str | None, at: datetime | None
    ) -> bool:
        rows = self._conn.run(
            "UPDATE automation_runs SET status = :status, reason = :reason,"
            " finished_at = coalesce(CAST(:at AS timestamptz), now())"
            " WHERE id = :id AND status = 'running' RETURNING id",
            id=run_id,
            status=status,
            reason=reason,
            at=at,
        )
        return bool(rows)

    def running_since(self, before: datetime, limit: int) -> list[dict[str, Any]]:
        """The tenant's runs cached as running that started before `before`, oldest first."""
        return self._select(
            "r.status = 'running' AND r.created_at < :before AND r.execution_arn IS NOT NULL",
            before=before,
            limit=limit,
        )

    def restart(self, run_id: uuid.UUID, execution_name: str, execution_arn: str) -> int:
        rows = self._conn.run(
            "UPDATE automation_runs SET status = 'running', reason = NULL, finished_at = NULL,"
            " attempt = attempt + 1, execution_name = :name, execution_arn = :arn"
            " WHERE id = :id RETURNING attempt",
            id=run_id,
            name=execution_name,
            arn=execution_arn,
        )
        attempt: int = rows[0][0]
        return attempt

    def _select(self, where: str, *, lock: bool = False, **params: Any) -> list[dict[str, Any]]:
        limit = " LIMIT :limit" if "limit" in params else ""
        rows = self._conn.run(
            f"SELECT {_RUN} FROM automation_runs r"
            " JOIN automation_versions v ON v.id = r.version_id"
            " LEFT JOIN outbox o ON o.id = r.event_id"
            f" WHERE {where} ORDER BY r.created_at, r.id{limit}"
            + (" FOR UPDATE OF r" if lock else ""),
            **params,
        )
        keys = (
            "id", "automation_id", "version_id", "version", "event_id", "execution_name",
            "execution_arn", "status", "attempt", "subject", "created_at", "state_machine_arn",
            "envelope",
        )  # fmt: skip
        return [dict(zip(keys, row, strict=True)) for row in rows]
