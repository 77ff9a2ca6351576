"""Repositories of webhook endpoints and their delivery ledger. Parameterised SQL inside the
unit of work's transaction (scoped to one tenant by row-level security); they never commit."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pg8000.native

from crm.domain.pagination import Keyset
from crm.domain.webhooks import WebhookDelivery, WebhookEndpoint

_ENDPOINT_COLUMNS = (
    "id, tenant_id, url, description, event_types, active, secret_encrypted, created_by,"
    " created_at, updated_at, version"
)
_DELIVERY_COLUMNS = (
    "id, tenant_id, endpoint_id, event_id, event_type, status, attempts, first_attempt_at,"
    " last_status_code, last_error, last_attempt_at, delivered_at"
)


def _endpoint(row: list[Any]) -> WebhookEndpoint:
    (id_, tenant_id, url, description, event_types, active, secret, created_by, created_at,
     updated_at, version) = row  # fmt: skip
    return WebhookEndpoint(
        id=id_,
        tenant_id=tenant_id,
        url=url,
        description=description,
        event_types=tuple(event_types),
        active=active,
        secret_encrypted=secret,
        created_by=created_by,
        created_at=created_at,
        updated_at=updated_at,
        version=version,
    )


def _delivery(row: list[Any]) -> WebhookDelivery:
    return WebhookDelivery(*row)


class PostgresWebhookEndpoints:
    def __init__(self, conn: pg8000.native.Connection) -> None:
        self._conn = conn

    def add(self, endpoint: WebhookEndpoint) -> None:
        self._conn.run(
            "INSERT INTO webhook_endpoints (id, tenant_id, url, description, event_types, active,"
            " secret_encrypted, created_by, created_at, updated_at, version) VALUES (:id,"
            " :tenant_id, :url, :description, CAST(:event_types AS text[]), :active, :secret,"
            " :created_by, :created_at, :updated_at, :version)",
            id=endpoint.id,
            tenant_id=endpoint.tenant_id,
            url=endpoint.url,
            description=endpoint.description,
            event_types=list(endpoint.event_types),
            active=endpoint.active,
            secret=endpoint.secret_encrypted,
            created_by=endpoint.created_by,
            created_at=endpoint.created_at,
            updated_at=endpoint.updated_at,
            version=endpoint.version,
        )

    def get(self, endpoint_id: uuid.UUID, *, for_update: bool = False) -> WebhookEndpoint | None:
        lock = " FOR UPDATE" if for_update else ""
        rows = self._conn.run(
            f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = :id{lock}",
            id=endpoint_id,
        )
        return _endpoint(rows[0]) if rows else None

    def page(self, limit: int, after: Keyset | None) -> list[WebhookEndpoint]:
        if after is None:
            rows = self._conn.run(
                f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints"
                " ORDER BY created_at DESC, id DESC LIMIT :limit",
                limit=limit,
            )
        else:
            rows = self._conn.run(
                f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints"
                " WHERE (created_at, id) < (:created_at, :id)"
                " ORDER BY created_at DESC, id DESC LIMIT :limit",
                created_at=after.value,
                id=after.id,
                limit=limit,
            )
        return [_endpoint(row) for row in rows]

    def active(self) -> list[WebhookEndpoint]:
        rows = self._conn.run(
            f"SELECT {_ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE active"
            " ORDER BY created_at, id"
        )
        return [_endpoint(row) for row in rows]

    def update(self, endpoint: WebhookEndpoint) -> None:
        self._conn.run(
            "UPDATE webhook_endpoints SET url = :url, description = :description,"
            " event_types = CAST(:event_types AS text[]), active = :active,"
            " secret_encrypted = :secret, updated_at = :updated_at, version = :version"
            " WHERE id = :id",
            id=endpoint.id,
            url=endpoint.url,
            description=endpoint.description,
            event_types=list(endpoint.event_types),
            active=endpoint.active,
            secret=endpoint.secret_encrypted,
            updated_at=endpoint.updated_at,
            version=endpoint.version,
        )

    def delete(self, endpoint_id: uuid.UUID) -> None:
        self._conn.run("DELETE FROM webhook_endpoints WHERE id = :id", id=endpoint_id)


class PostgresWebhookDeliveries:
    def __init__(self, conn: pg8000.native.Connection, tenant_id: uuid.UUID) -> None:
        self._conn = conn
        self._tenant_id = tenant_id

    def open(
        self, endpoint_id: uuid.UUID, event_id: uuid.UUID, event_type: str, at: datetime
    ) -> WebhookDelivery:
        self._conn.run(
            "INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_id, event_type,"
            " first_attempt_at) VALUES (:id, :tenant_id, :endpoint_id, :event_id, :event_type,"
            " :at) ON CONFLICT (endpoint_id, event_id) DO NOTHING",
            id=uuid.uuid4(),
            tenant_id=self._tenant_id,
            endpoint_id=endpoint_id,
            event_id=event_id,
            event_type=event_type,
            at=at,
        )
        rows = self._conn.run(
            f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries"
            " WHERE endpoint_id = :endpoint_id AND event_id = :event_id",
            endpoint_id=endpoint_id,
            event_id=event_id,
        )
        return _delivery(rows[0])

    def record_attempt(
        self,
        delivery_id: uuid.UUID,
        *,
        at: datetime,
        status_code: int | None,
        error: str | None,
        delivered: bool,
        give_up: bool,
    ) -> None:
        # A delivered row stays delivered (a late duplicate attempt cannot undo it).
        self._conn.run(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, last_attempt_at = :at,"
            " last_status_code = :code, last_error = :error,"
            " status = CASE WHEN status = 'delivered' OR :delivered THEN 'delivered'"
            "   WHEN :give_up THEN 'failed' ELSE 'pending' END,"
            " delivered_at = CASE WHEN status = 'delivered' THEN delivered_at"
            "   WHEN :delivered THEN CAST(:at AS timestamptz) END"
            " WHERE id = :id",
            id=delivery_id,
            at=at,
            code=status_code,
            error=error,
            delivered=delivered,
            give_up=give_up,
        )

    def page(
        self, endpoint_id: uuid.UUID, status: str | None, limit: int, after: Keyset | None
    ) -> list[WebhookDelivery]:
        where = ["endpoint_id = :endpoint_id"]
        params: dict[str, Any] = {"endpoint_id": endpoint_id, "limit": limit}
        if status is not None:
            where.append("status = :status")
            params["status"] = status
        if after is not None:
            where.append("(first_attempt_at, id) < (:after_at, :after_id)")
            params.update(after_at=after.value, after_id=after.id)
        rows = self._conn.run(
            f"SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries WHERE {' AND '.join(where)}"
            " ORDER BY first_attempt_at DESC, id DESC LIMIT :limit",
            **params,
        )
        return [_delivery(row) for row in rows]
