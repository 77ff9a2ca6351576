"""Ports of the audit log and idempotency keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Protocol

from crm.domain.audit import AuditEntry, AuditRecord
from crm.domain.pagination import Page, PageRequest
from crm.ports.transaction import TransactionScope


class IdempotencyStore(Protocol):
    def get(self, key: str) -> tuple[str, int, dict[str, Any]] | None: ...
    def put(
        self, key: str, request_hash: str, status_code: int, response: dict[str, Any]
    ) -> None: ...
    def claim(self, key: str, request_hash: str) -> tuple[str, int, dict[str, Any]] | None:
        """Reserve `key` in this transaction; None when reserved now, else the earlier
        (request_hash, status, response). A concurrent claim of the same key waits for this
        transaction and then sees its outcome."""
        ...

    def complete(self, key: str, status_code: int, response: dict[str, Any]) -> None:
        """Store the response of the request that claimed `key` (same transaction)."""
        ...


class AuditLog(Protocol):
    def record(self, entry: AuditEntry) -> None: ...


class AuditTrail(Protocol):
    """Reads the audit log (writing is AuditLog)."""

    def search(
        self,
        *,
        actor_id: uuid.UUID | None,
        action: str | None,
        entity_type: str | None,
        entity_id: str | None,
        since: datetime | None,
        until: datetime | None,
        page: PageRequest,
    ) -> Page[AuditRecord]: ...


class AuditLogUnitOfWork(TransactionScope, Protocol):
    """Reading and writing the audit log (crm.services.audit_logs)."""

    @property
    def audit(self) -> AuditLog: ...
    @property
    def audit_trail(self) -> AuditTrail: ...


class IdempotencyUnitOfWork(TransactionScope, Protocol):
    """What an Idempotency-Key claim needs (crm.services.idempotency)."""

    @property
    def idempotency(self) -> IdempotencyStore: ...
