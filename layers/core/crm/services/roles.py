"""Roles: the built-in ones and a tenant's custom roles, built from the permission list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crm.domain.audit import RequestMeta
from crm.domain.concurrency import Precondition
from crm.domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from crm.domain.permissions import PERMISSIONS, may_grant
from crm.domain.roles import builtin_role_view
from crm.domain.tenants import ROLE_KEY, Principal, Role, RoleGrant, builtin_role
from crm.ports import UnitOfWorkFactory
from crm.services.audit_logs import record_change
from crm.services.idempotency import claim_key


@dataclass(frozen=True)
class NewRole:
    key: str
    name: str
    permissions: frozenset[str]
    description: str = ""
    own_records_only: bool = False


def list_roles(principal: Principal, *, unit_of_work: UnitOfWorkFactory) -> dict[str, Any]:
    """Built-in roles first (strongest first), then the tenant's own; plus every permission a
    custom role may be built from."""
    with unit_of_work(principal.tenant_id) as uow:
        custom = uow.custom_roles.all()
    return {
        "items": [builtin_role_view(role) for role in Role] + [r.to_dict() for r in custom],
        "permissions": sorted(PERMISSIONS),
    }


def create_role(
    command: NewRole,
    principal: Principal,
    *,
    unit_of_work: UnitOfWorkFactory,
    meta: RequestMeta,
    idempotency_key: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Returns (role, replayed): a retry with the same Idempotency-Key gets the first answer."""
    problems = _key_problems(command.key) + _permission_problems(command.permissions)
    if problems:
        raise ValidationFailed("the role was rejected", problems)
    _ensure_may_grant(principal, RoleGrant(command.permissions, command.own_records_only))
    with unit_of_work(principal.tenant_id) as uow:
        request = {**command.__dict__, "permissions": sorted(command.permissions)}
        claim = claim_key(uow, idempotency_key, "roles.create", request)
        if claim.replay is not None:
            return claim.replay.body, True
        created = uow.custom_roles.add(
            command.key,
            command.name,
            command.description,
            command.permissions,
            command.own_records_only,
        )
        if created is None:
            raise Conflict(f"a role {command.key!r} already exists", field="key")
        record_change(
            uow,
            principal,
            "role.created",
            entity_type="role",
            entity_id=created.key,
            before=None,
            after=created.audited(),
            meta=meta,
        )
        claim.complete(201, created.to_dict())
        uow.commit()
    return created.to_dict(), False


def update_role(
    key: str,
    changes: dict[str, Any],
    principal: Principal,
    *,
    unit_of_work: UnitOfWorkFactory,
    meta: RequestMeta,
    precondition: Precondition | None = None,
) -> dict[str, Any]:
    """`changes`: any of name, description, permissions (the whole new set), own_records_only.
    Users holding the role get the new permissions on their next request."""
    if builtin_role(key) is not None:
        raise Conflict(f"{key!r} is a built-in role; built-in roles cannot be changed")
    permissions = changes.get("permissions")
    if permissions is not None:
        problems = _permission_problems(frozenset(permissions))
        if problems:
            raise ValidationFailed("the role was rejected", problems)
    with unit_of_work(principal.tenant_id) as uow:
        current = uow.custom_roles.get(key, for_update=True)
        if current is None:
            raise NotFound(f"role {key} not found")
        if precondition is not None:
            precondition.check(current.version, f"role {key}")
        new_grant = RoleGrant(
            frozenset(permissions) if permissions is not None else current.permissions,
            changes.get("own_records_only", current.own_records_only),
        )
        # Nobody edits a role above their own, nor lifts one above their own.
        _ensure_may_grant(principal, current.grant)
        _ensure_may_grant(principal, new_grant)
        name = changes.get("name") or current.name
        description = changes.get("description", current.description)
        if (name, description, new_grant) == (current.name, current.description, current.grant):
            return current.to_dict()  # nothing changes: nothing written, nothing audited
        updated = uow.custom_roles.update(
            key,
            name=name,
            description=description,
            permissions=new_grant.permissions,
            own_records_only=new_grant.own_records_only,
            expected_version=current.version,
        )
        assert updated is not None, "the row is locked"
        record_change(
            uow,
            principal,
            "role.updated",
            entity_type="role",
            entity_id=key,
            before=current.audited(),
            after=updated.audited(),
            meta=meta,
        )
        uow.commit()
    return updated.to_dict()


def _ensure_may_grant(principal: Principal, grant: RoleGrant) -> None:
    if not may_grant(principal, grant):
        raise Forbidden(
            "a role cannot allow more than your own role does",
            permission="roles:grant",
        )


def _key_problems(key: str) -> list[dict[str, Any]]:
    if builtin_role(key) is not None:
        return [{"loc": ["body", "key"], "msg": "is a built-in role", "type": "value_error"}]
    if not ROLE_KEY.match(key):
        return [
            {
                "loc": ["body", "key"],
                "msg": "2-40 chars: lowercase letters, digits, '-' or '_', starting with a letter",
                "type": "value_error",
            }
        ]
    return []


def _permission_problems(permissions: frozenset[str]) -> list[dict[str, Any]]:
    unknown = sorted(permissions - PERMISSIONS)
    if not unknown:
        return []
    return [
        {
            "loc": ["body", "permissions"],
            "msg": f"unknown permissions: {', '.join(unknown)}",
            "type": "value_error",
        }
    ]
