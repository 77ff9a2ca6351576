"""The audit log: one helper every mutating service calls inside its unit of work (so the row
commits with the change or not at all), and the filtered, paginated listing."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from crm.domain.audit import AuditEntry, AuditRecord, RequestMeta, diff
from crm.domain.errors import ValidationFailed
from crm.domain.pagination import Page, PageRequest
from crm.domain.tenants import Principal
from crm.ports import AuditLogUnitOfWork


def record_change(
    uow: AuditLogUnitOfWork,
    principal: Principal,
    action: str,
    *,
    entity_type: str,
    entity_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    meta: RequestMeta,
) -> None:
    """An audit row by the principal (user or API key), with the secret-free field diff."""
    uow.audit.record(
        AuditEntry(
            tenant_id=principal.tenant_id,
            action=action,
            actor_type=principal.actor_type,
            actor_id=principal.actor_id,
            entity_type=entity_type,
            entity_id=entity_id,
            changes=diff(before, after),
            meta=meta,
        )
    )


def list_audit_logs(
    principal: Principal,
    page: PageRequest,
    *,
    unit_of_work: Callable[[uuid.UUID], AuditLogUnitOfWork],
    actor_id: uuid.UUID | None = None,
    action: str | None = None,
    entity_type: str | None = None,
    entity_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page[AuditRecord]:
    """Newest first (occurred_at, id). `since` is inclusive, `until` exclusive."""
    if since is not None and until is not None and since >= until:
        raise ValidationFailed(
            "the time range is empty",
            [{"loc": ["query", "until"], "msg": "must be after since", "type": "value_error"}],
        )
    with unit_of_work(principal.tenant_id) as uow:
        return uow.audit_trail.search(
            actor_id=actor_id,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            since=since,
            until=until,
            page=page,
        )
