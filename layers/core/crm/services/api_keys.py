"""API keys: create (the secret is returned once), list, revoke. Each change is audited."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from crm.domain.api_keys import ApiKey
from crm.domain.audit import AuditEntry, RequestMeta, diff
from crm.domain.credentials import API_KEY_PREFIX, OpaqueCredential
from crm.domain.errors import NotFound, ValidationFailed
from crm.domain.pagination import Keyset, Page, PageRequest
from crm.domain.permissions import PERMISSIONS, effective_permissions
from crm.domain.tenants import Principal
from crm.ports import ApiKeysUnitOfWork

HINT_LENGTH = 4


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _event(
    caller: Principal, action: str, key: ApiKey, changes: dict[str, Any], meta: RequestMeta
) -> AuditEntry:
    return AuditEntry(
        tenant_id=caller.tenant_id,
        action=action,
        actor_type=caller.actor_type,
        actor_id=caller.actor_id,
        entity_type="api_key",
        entity_id=str(key.id),
        changes=changes,
        meta=meta,
    )


def _scope_problems(caller: Principal, scopes: Iterable[str]) -> list[dict[str, Any]]:
    requested = set(scopes)
    problems = []
    unknown = sorted(requested - PERMISSIONS)
    if unknown:
        problems.append(f"unknown permissions: {', '.join(unknown)}")
    beyond = sorted((requested & PERMISSIONS) - effective_permissions(caller))
    if beyond:
        problems.append(f"beyond your own permissions: {', '.join(beyond)}")
    return [{"loc": ["body", "scopes"], "msg": msg, "type": "value_error"} for msg in problems]


def create_api_key(
    caller: Principal,
    name: str,
    scopes: Iterable[str],
    expires_at: datetime | None,
    *,
    unit_of_work: Callable[[uuid.UUID], ApiKeysUnitOfWork],
    meta: RequestMeta,
    clock: Callable[[], datetime] = _utcnow,
) -> dict[str, Any]:
    """A new key acting for `caller` within `scopes` (which must be permissions the caller
    has: nobody mints a key stronger than themself). The body carries `secret` this once."""
    now = clock()
    scopes = frozenset(scopes)
    problems = _scope_problems(caller, scopes)
    if expires_at is not None and expires_at <= now:
        problems.append(
            {"loc": ["body", "expires_at"], "msg": "must be in the future", "type": "value_error"}
        )
    if problems:
        raise ValidationFailed("the API key was rejected", problems)
    credential = OpaqueCredential.new(API_KEY_PREFIX, caller.tenant_id)
    key = ApiKey(
        id=credential.id,
        tenant_id=caller.tenant_id,
        name=name,
        scopes=scopes,
        digest=credential.digest,
        hint=credential.secret[-HINT_LENGTH:],
        created_by=caller.user_id,
        created_at=now,
        expires_at=expires_at,
    )
    with unit_of_work(caller.tenant_id) as uow:
        uow.api_keys.add(key)
        view = {"name": name, "scopes": sorted(scopes), "expires_at": expires_at}
        uow.audit.record(_event(caller, "api_key.created", key, diff(None, view), meta))
        uow.commit()
    return {**key.to_dict(), "secret": str(credential)}


def list_api_keys(
    caller: Principal, page: PageRequest, *, unit_of_work: Callable[[uuid.UUID], ApiKeysUnitOfWork]
) -> Page[ApiKey]:
    """Newest first, revoked ones included (marked), one page at a time."""
    with unit_of_work(caller.tenant_id) as uow:
        rows = uow.api_keys.page(page.limit + 1, page.after)
    return Page.from_rows(rows, page.limit, lambda key: Keyset(key.created_at, key.id))


def revoke_api_key(
    caller: Principal,
    key_id: uuid.UUID,
    *,
    unit_of_work: Callable[[uuid.UUID], ApiKeysUnitOfWork],
    meta: RequestMeta,
    clock: Callable[[], datetime] = _utcnow,
) -> None:
    """Revoked at once for the authorizer's next lookup. Revoking twice is a no-op; another
    tenant's key is 404 (row-level security makes it invisible)."""
    with unit_of_work(caller.tenant_id) as uow:
        key = uow.api_keys.get(key_id)
        if key is None:
            raise NotFound(f"API key {key_id} not found")
        if key.revoked_at is not None:
            return
        now = clock()
        uow.api_keys.revoke(key.id, caller.user_id, now)
        uow.audit.record(
            _event(
                caller,
                "api_key.revoked",
                key,
                diff({"revoked_at": None}, {"revoked_at": now}),
                meta,
            )
        )
        uow.commit()
