"""Open WebSocket connections (table ws_connections, migration 0015)."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

import pg8000.native

from crm.domain.realtime import ConnectionRow


class PostgresWsConnections:
    def __init__(self, conn: pg8000.native.Connection, tenant_id: uuid.UUID) -> None:
        self._conn = conn
        self._tenant_id = tenant_id

    def add(
        self,
        connection_id: str,
        user_id: uuid.UUID,
        api_key_id: uuid.UUID | None,
        scopes: Collection[str] | None,
        at: datetime,
    ) -> None:
        """Stores a new connection; a repeated $connect of the same id (a retried invocation)
        keeps one row."""
        self._conn.run(
            "INSERT INTO ws_connections"
            " (connection_id, tenant_id, user_id, api_key_id, scopes, connected_at, last_seen_at)"
            " VALUES (:cid, :tenant_id, :user_id, :api_key_id, CAST(:scopes AS text[]), :at, :at)"
            " ON CONFLICT (connection_id) DO NOTHING",
            cid=connection_id,
            tenant_id=self._tenant_id,
            user_id=user_id,
            api_key_id=api_key_id,
            scopes=None if scopes is None else sorted(scopes),
            at=at,
        )

    def remove(self, connection_id: str) -> bool:
        rows = self._conn.run(
            "DELETE FROM ws_connections WHERE connection_id = :cid RETURNING 1",
            cid=connection_id,
        )
        return bool(rows)

    def touch(self, connection_id: str, at: datetime) -> bool:
        rows = self._conn.run(
            "UPDATE ws_connections SET last_seen_at = :at WHERE connection_id = :cid RETURNING 1",
            cid=connection_id,
            at=at,
        )
        return bool(rows)

    def listeners(self) -> list[ConnectionRow]:
        """The tenant's connections (RLS) with their users' current role and status."""
        rows = self._conn.run(
            "SELECT c.connection_id, c.user_id, c.api_key_id, c.scopes, u.role, u.status,"
            " c.connected_at"
            " FROM ws_connections c JOIN users u ON u.id = c.user_id"
            " ORDER BY c.connected_at, c.connection_id"
        )
        return [
            ConnectionRow(
                connection_id=r[0],
                user_id=r[1],
                api_key_id=r[2],
                scopes=None if r[3] is None else frozenset(r[3]),
                role=r[4],
                user_status=r[5],
                connected_at=r[6],
            )
            for r in rows
        ]
