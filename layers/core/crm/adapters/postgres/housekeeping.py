"""Cross-tenant reads of the housekeeping role (crm_relay), through the narrow policies of
0007_crm_core.sql: which tenants have expired soft deletions, which imports stalled. SQL
only."""

from __future__ import annotations

import uuid
from datetime import datetime

from crm.adapters.postgres.connection import ConnectionPool


class PostgresExpiredRecords:
    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def tenants_with_deletions_before(self, before: datetime) -> list[uuid.UUID]:
        with self._pool.connection() as conn:
            rows = conn.run(
                "SELECT tenant_id FROM leads WHERE deleted_at < :before"
                " UNION SELECT tenant_id FROM contacts WHERE deleted_at < :before",
                before=before,
            )
        return [row[0] for row in rows]

    def tenants_with_archive_before(self, before: datetime) -> list[uuid.UUID]:
        """Tenants with archived events older than `before` (policy of 0062)."""
        with self._pool.connection() as conn:
            rows = conn.run(
                "SELECT DISTINCT tenant_id FROM event_archive WHERE occurred_at < :before",
                before=before,
            )
        return [row[0] for row in rows]

    def stalled_imports(self, before: datetime) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(tenant id, import id) of queued or running imports untouched since `before`."""
        with self._pool.connection() as conn:
            rows = conn.run(
                "SELECT tenant_id, id FROM imports WHERE status IN ('queued', 'running')"
                " AND updated_at < :before ORDER BY updated_at LIMIT 100",
                before=before,
            )
        return [(row[0], row[1]) for row in rows]

    def tenants_with_running_runs(self, before: datetime) -> list[uuid.UUID]:
        """Tenants with automation runs still recorded as running that started before."""
        with self._pool.connection() as conn:
            rows = conn.run(
                "SELECT DISTINCT tenant_id FROM automation_runs"
                " WHERE status = 'running' AND created_at < :before",
                before=before,
            )
        return [row[0] for row in rows]


class PostgresDueTasks:
    """Across tenants, as crm_relay (0023_notifications.sql): which tenants have open tasks
    due before a moment that were not reminded yet. It sees nothing else of those tasks."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def tenants_with_tasks_due_before(self, before: datetime) -> list[uuid.UUID]:
        with self._pool.connection() as conn:
            rows = conn.run(
                "SELECT DISTINCT tenant_id FROM tasks WHERE due_at < :before", before=before
            )
        return [row[0] for row in rows]
