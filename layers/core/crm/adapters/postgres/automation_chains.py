"""What the chain rules of automations read and write: the tenant's active workflows (the
cycle check at save), its chain depth limit, and runs the router skips."""

from __future__ import annotations

import uuid
from typing import Any

import pg8000.native

from crm.domain.tenant_settings import TenantSettings


class PostgresAutomationChains:
    def __init__(self, conn: pg8000.native.Connection, tenant_id: uuid.UUID) -> None:
        self._conn = conn
        self._tenant_id = tenant_id

    def active_workflows(self) -> list[tuple[uuid.UUID, str, dict[str, Any]]]:
        rows = self._conn.run(
            "SELECT a.id, a.name, v.definition FROM automations a JOIN automation_versions v"
            "   ON v.automation_id = a.id AND v.version = a.current_version"
            " WHERE a.status = 'active' ORDER BY a.created_at, a.id"
        )
        return [(row[0], row[1], row[2]) for row in rows]

    def version_definition(
        self, automation_id: uuid.UUID, version: int | None
    ) -> tuple[int, dict[str, Any]] | None:
        """(version, definition) of one stored version; `version` None: the newest."""
        rows = self._conn.run(
            "SELECT version, definition FROM automation_versions WHERE automation_id = :a"
            " AND (CAST(:v AS integer) IS NULL OR version = CAST(:v AS integer))"
            " ORDER BY version DESC LIMIT 1",
            a=automation_id,
            v=version,
        )
        return (rows[0][0], rows[0][1]) if rows else None

    def chain_depth_limit(self) -> int:
        """The tenant's setting automation_max_chain_depth (crm.domain.tenant_settings)."""
        rows = self._conn.run("SELECT settings FROM tenants WHERE id = :id", id=self._tenant_id)
        return TenantSettings.stored(rows[0][0] if rows else None).automation_max_chain_depth

    def add_skipped_run(
        self,
        run_id: uuid.UUID,
        automation_id: uuid.UUID,
        version_id: uuid.UUID,
        event_id: uuid.UUID,
        execution_name: str,
        reason: str,
    ) -> bool:
        rows = self._conn.run(
            "INSERT INTO automation_runs (id, tenant_id, automation_id, version_id, event_id,"
            " execution_name, status, skip_reason, finished_at) VALUES (:id, :tenant_id,"
            " :automation_id, :version_id, :event_id, :name, 'skipped', :reason, now())"
            " ON CONFLICT (version_id, event_id) DO NOTHING RETURNING id",
            id=run_id,
            tenant_id=self._tenant_id,
            automation_id=automation_id,
            version_id=version_id,
            event_id=event_id,
            name=execution_name,
            reason=reason,
        )
        return bool(rows)
