"""The event archive (table event_archive, migration 0062): a tenant's events of a period,
for backtests, and the purge of what is past the plan's retention. SQL only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pg8000.native


class PostgresEventArchive:
    def __init__(self, conn: pg8000.native.Connection) -> None:
        self._conn = conn

    def between(
        self, event_type: str, since: datetime, until: datetime, limit: int
    ) -> list[dict[str, Any]]:
        """The envelopes of `event_type` that occurred in [since, until), oldest first."""
        rows = self._conn.run(
            "SELECT envelope FROM event_archive WHERE type = :type"
            " AND occurred_at >= :since AND occurred_at < :until"
            " ORDER BY occurred_at, id LIMIT :limit",
            type=event_type,
            since=since,
            until=until,
            limit=limit,
        )
        return [row[0] for row in rows]

    def purge_expired(self, now: datetime) -> int:
        """Delete the events older than the tenant's plan keeps them."""
        rows = self._conn.run(
            "DELETE FROM event_archive WHERE occurred_at < CAST(:now AS timestamptz)"
            " - make_interval(days => (SELECT p.event_archive_days FROM tenants t"
            "   JOIN plans p ON p.key = t.plan WHERE t.id = app_tenant_id()))"
            " RETURNING 1",
            now=now,
        )
        return len(rows)
