"""Ports of webhook subscriptions, deliveries and the sender."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Protocol

from crm.domain.pagination import Keyset
from crm.domain.webhooks import AttemptResult, WebhookDelivery, WebhookEndpoint
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
    """Outbound HTTP on a tenant's behalf, behind the target policy (the pinned sender)."""

    def post(
        self, url: str, body: bytes, headers: dict[str, str], *, read_limit: int = 0
    ) -> AttemptResult:
        """POST `body`; a refused target or failed request is reported, never raised."""
        ...


class WebhooksUnitOfWork(IdempotencyUnitOfWork, Protocol):
    """Subscriptions, deliveries and the audit log (crm.services.webhooks)."""

    @property
    def webhook_endpoints(self) -> WebhookEndpointRepository: ...
    @property
    def webhook_deliveries(self) -> WebhookDeliveryRepository: ...
    @property
    def audit(self) -> AuditLog: ...
