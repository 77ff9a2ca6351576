"""The audit log: one helper every mutating service calls inside its unit of work (so the row
commits with the change or not at all), and the filtered, paginated listing."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from crm.domain.audit import AuditEntry, RequestMeta, diff
from crm.domain.cursors import Page, decode_cursor, encode_cursor, invalid_cursor
from crm.domain.errors import ValidationFailed
from crm.domain.tenants import Principal
from crm.ports import UnitOfWork, UnitOfWorkFactory


def record_change(
    uow: UnitOfWork,
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
    *,
    unit_of_work: UnitOfWorkFactory,
    actor_id: uuid.UUID | None = None,
    action: str | None = None,
    entity_type: str | None = None,
    entity_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int,
) -> Page:
    """Newest first. `since` is inclusive, `until` exclusive."""
    if since is not None and until is not None and since >= until:
        raise ValidationFailed(
            "the time range is empty",
            [{"loc": ["query", "until"], "msg": "must be after since", "type": "value_error"}],
        )
    before = None
    if cursor is not None:
        at, row_id = decode_cursor(cursor, 2)
        before = (_cursor_time(at), _cursor_int(row_id))
    with unit_of_work(principal.tenant_id) as uow:
        records = uow.audit_trail.search(
            actor_id=actor_id,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            since=since,
            until=until,
            before=before,
            limit=limit + 1,
        )
    page, more = records[:limit], len(records) > limit
    next_cursor = encode_cursor(page[-1].occurred_at.isoformat(), page[-1].id) if more else None
    return Page([record.to_dict() for record in page], next_cursor)


def _cursor_time(value: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError as error:
        raise invalid_cursor() from error


def _cursor_int(value: Any) -> int:
    if not isinstance(value, int):
        raise invalid_cursor()
    return value
