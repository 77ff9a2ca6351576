from __future__ import annotations

import uuid

import pytest
from crm.api.guards import require
from crm.domain.errors import Forbidden
from crm.domain.permissions import BUILTIN_ROLE_PERMISSIONS, is_allowed
from crm.domain.tenants import Principal, Role


def _principal(role: Role, **extra: object) -> Principal:
    return Principal(tenant_id=uuid.uuid4(), user_id=uuid.uuid4(), role=role, **extra)  # type: ignore[arg-type]


def test_roles_are_ordered_by_what_they_may_do() -> None:
    owner, admin, manager, seller, viewer = (BUILTIN_ROLE_PERMISSIONS[r] for r in Role)
    assert viewer < seller < manager < admin <= owner


@pytest.mark.parametrize(
    ("role", "permission", "expected"),
    [
        (Role.SELLER, "leads:create", True),
        (Role.SELLER, "leads:delete", False),
        (Role.VIEWER, "leads:create", False),
        (Role.MANAGER, "users:create", False),
        (Role.ADMIN, "audit_logs:read", True),
    ],
)
def test_matrix(role: Role, permission: str, expected: bool) -> None:
    assert is_allowed(_principal(role), permission) is expected


def test_api_key_is_bounded_by_its_scopes_and_its_creators_role() -> None:
    key = _principal(
        Role.SELLER, api_key_id=uuid.uuid4(), scopes=frozenset({"leads:read", "users:create"})
    )
    assert is_allowed(key, "leads:read")
    assert not is_allowed(key, "leads:create")  # not in scope
    assert not is_allowed(key, "users:create")  # in scope, beyond the creator's role


def test_require_raises_forbidden_naming_the_permission() -> None:
    with pytest.raises(Forbidden) as raised:
        require(_principal(Role.VIEWER), "leads:create")
    assert raised.value.extra == {"permission": "leads:create"}
