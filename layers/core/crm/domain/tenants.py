"""Tenants and users (the skeleton's sign-up; roles and plans grow in the identity issue)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MANAGER = "manager"
    SELLER = "seller"
    VIEWER = "viewer"


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
    role: Role
    status: str = "active"
    id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass(frozen=True)
class Principal:
    """Who is calling, as the authorizer established it.

    For an API key, `user_id` is the user who created the key (accountability), `api_key_id`
    names the key and `scopes` bound what it may do.
    """

    tenant_id: uuid.UUID
    user_id: uuid.UUID
    role: Role
    api_key_id: uuid.UUID | None = None
    scopes: frozenset[str] = frozenset()

    @property
    def actor_type(self) -> str:
        return "api_key" if self.api_key_id else "user"

    @property
    def actor_id(self) -> uuid.UUID:
        return self.api_key_id or self.user_id
