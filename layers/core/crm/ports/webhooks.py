"""Ports of webhook subscriptions, deliveries and the sender."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Protocol

from crm.domain.pagination import Keyset
from crm.domain.webhooks import WebhookDelivery, WebhookEndpoint
from crm.ports.audit import AuditLog, IdempotencyUnitOfWork


class WebhookEndpointRepository(Protocol):
    def add(self, endpoint: WebhookEndpoint) -> None: ...
    def get(
        self, endpoint_id: uuid.UUID, *, for_update: bool = False
    ) -> WebhookEndpoint | None: ...

    def page(self, limit: int, after: Keyset | None) -> list[WebhookEndpoint]:
        """Newest first, after the (created_at, id) keyset of the previous page's last one."""
        ...

    def active(self) -> list[WebhookEndpoint]: ...
    def update(self, endpoint: WebhookEndpoint) -> None:
        """Writes every field and the secret; the caller bumped the version."""
        ...

    def delete(self, endpoint_id: uuid.UUID) -> None: ...


class WebhookDeliveryRepository(Protocol):
    def open(
        self, endpoint_id: uuid.UUID, event_id: uuid.UUID, event_type: str, at: datetime
    ) -> WebhookDelivery:
        """The (endpoint, event) row, inserted as pending when it is the first attempt."""
        ...

    def record_attempt(
        self,
        delivery_id: uuid.UUID,
        *,
        at: datetime,
        status_code: int | None,
        error: str | None,
        delivered: bool,
        give_up: bool,
    ) -> None: ...
    def page(
        self, endpoint_id: uuid.UUID, status: str | None, limit: int, after: Keyset | None
    ) -> list[WebhookDelivery]:
        """Newest first (first_attempt_at, id)."""
        ...


class WebhookSender(Protocol):
    def send(
        self, url: str, body: dict[str, Any], *, message_id: str, headers: dict[str, str]
    ) -> int:
        """POST `body`; returns the HTTP status; raises on transport errors and non-2xx."""
        ...


class WebhooksUnitOfWork(IdempotencyUnitOfWork, Protocol):
    """Subscriptions, deliveries and the audit log (crm.services.webhooks)."""

    @property
    def webhook_endpoints(self) -> WebhookEndpointRepository: ...
    @property
    def webhook_deliveries(self) -> WebhookDeliveryRepository: ...
    @property
    def audit(self) -> AuditLog: ...
