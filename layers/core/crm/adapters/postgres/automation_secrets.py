"""The automations' sealed webhook signing secrets (automation_webhook_secrets). Parameterised
SQL inside the unit of work's transaction; never commits."""

from __future__ import annotations

import uuid

import pg8000.native


class PostgresAutomationWebhookSecrets:
    def __init__(self, conn: pg8000.native.Connection, tenant_id: uuid.UUID) -> None:
        self._conn = conn
        self._tenant_id = tenant_id

    def get(self, automation_id: uuid.UUID) -> str | None:
        rows = self._conn.run(
            "SELECT secret_encrypted FROM automation_webhook_secrets WHERE automation_id = :id",
            id=automation_id,
        )
        return str(rows[0][0]) if rows else None

    def put(self, automation_id: uuid.UUID, sealed: str) -> None:
        self._conn.run(
            "INSERT INTO automation_webhook_secrets (automation_id, tenant_id, secret_encrypted)"
            " VALUES (:id, :tenant_id, :sealed) ON CONFLICT (automation_id) DO UPDATE"
            " SET secret_encrypted = EXCLUDED.secret_encrypted, rotated_at = now()",
            id=automation_id,
            tenant_id=self._tenant_id,
            sealed=sealed,
        )
