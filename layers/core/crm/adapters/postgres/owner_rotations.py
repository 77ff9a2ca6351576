"""Round-robin positions of assign_owner (table automation_rotations, migration 0060)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import pg8000.native


class PostgresOwnerRotations:
    def __init__(self, conn: pg8000.native.Connection, tenant_id: uuid.UUID) -> None:
        self._conn = conn
        self._tenant_id = tenant_id

    def lock_position(self, automation_id: uuid.UUID, step_id: str) -> int:
        # Insert-or-nothing, then lock: concurrent first picks all end up waiting on the one row.
        self._conn.run(
            "INSERT INTO automation_rotations (tenant_id, automation_id, step_id)"
            " VALUES (:t, :a, :s) ON CONFLICT DO NOTHING",
            t=self._tenant_id,
            a=automation_id,
            s=step_id,
        )
        rows = self._conn.run(
            "SELECT position FROM automation_rotations"
            " WHERE automation_id = :a AND step_id = :s FOR UPDATE",
            a=automation_id,
            s=step_id,
        )
        return int(rows[0][0])

    def set_position(self, automation_id: uuid.UUID, step_id: str, position: int) -> None:
        self._conn.run(
            "UPDATE automation_rotations SET position = :p, updated_at = now()"
            " WHERE automation_id = :a AND step_id = :s",
            p=position,
            a=automation_id,
            s=step_id,
        )

    def active_users(self, user_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
        if not user_ids:
            return []
        rows = self._conn.run(
            "SELECT id FROM users WHERE id = ANY(CAST(:ids AS uuid[])) AND status = 'active'",
            ids=[str(user_id) for user_id in user_ids],
        )
        active = {row[0] for row in rows}
        return [user_id for user_id in user_ids if user_id in active]

    def active_users_with_role(self, role: str) -> list[uuid.UUID]:
        rows = self._conn.run(
            "SELECT id FROM users WHERE role = :role AND status = 'active' ORDER BY id",
            role=role,
        )
        return [row[0] for row in rows]
