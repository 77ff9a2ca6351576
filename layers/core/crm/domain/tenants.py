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
    """Who is calling, as the authorizer established it."""

    tenant_id: uuid.UUID
    user_id: uuid.UUID
    role: Role
