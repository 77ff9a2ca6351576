"""Route guards: a route states the permission it needs; the matrix decides."""

from __future__ import annotations

from crm.domain.errors import Forbidden
from crm.domain.permissions import is_allowed
from crm.domain.tenants import Principal


def require(principal: Principal, permission: str) -> Principal:
    """Return the principal when allowed, else 403 problem+json naming the permission."""
    if not is_allowed(principal, permission):
        raise Forbidden(f"this action needs the {permission!r} permission", permission=permission)
    return principal
