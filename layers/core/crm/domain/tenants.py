"""Tenants, users and who is calling.

A role is a plain string: one of the built-in `Role`s, or the key of a tenant's custom role
(stored in the database). `builtin_role()` tells them apart.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MANAGER = "manager"
    SELLER = "seller"
    VIEWER = "viewer"


BUILTIN_ROLES = frozenset(role.value for role in Role)
# Custom role keys look like built-in ones: lowercase, usable in URLs and JWT claims.
ROLE_KEY = re.compile(r"^[a-z][a-z0-9_-]{1,39}$")


def builtin_role(role: str) -> Role | None:
    """The built-in role named `role`, or None for a custom role's key."""
    return Role(role) if role in BUILTIN_ROLES else None


class UserStatus(StrEnum):
    PENDING = "pending"  # invited, has not set a password yet
    ACTIVE = "active"
    DEACTIVATED = "deactivated"


@dataclass(frozen=True)
class RoleGrant:
    """What a role allows: its permissions, and whether it sees only the records it owns (or
    that nobody owns)."""

    permissions: frozenset[str]
    own_records_only: bool = False


@dataclass(frozen=True)
class Tenant:
    name: str
    slug: str
    plan: str = "free"
    id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass(frozen=True)
class User:
    tenant_id: uuid.UUID
    email: str
    name: str
    password_hash: str
    role: str
    status: str = UserStatus.ACTIVE
    id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass(frozen=True)
class Principal:
    """Who is calling, as the authorizer established it.

    For an API key, `user_id` is the user who created the key (accountability), `api_key_id`
    names the key and `scopes` bound what it may do.

    `role` is a built-in role or a custom role's key. `custom_grant` is what a custom role
    allows, loaded from the database by the API gate; None for a built-in role (the matrix in
    crm.domain.permissions knows those).
    """

    tenant_id: uuid.UUID
    user_id: uuid.UUID
    role: str
    api_key_id: uuid.UUID | None = None
    scopes: frozenset[str] = frozenset()
    custom_grant: RoleGrant | None = None

    @property
    def actor_type(self) -> str:
        return "api_key" if self.api_key_id else "user"

    @property
    def actor_id(self) -> uuid.UUID:
        return self.api_key_id or self.user_id
