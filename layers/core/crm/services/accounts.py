"""Sign-up and login (the identity issue extends these with refresh tokens, MFA, lockout)."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from crm.domain.audit import RequestMeta
from crm.domain.errors import InvalidCredentials, ValidationFailed
from crm.domain.tenants import Principal, Role, Tenant, User
from crm.ports import LoginDirectory, PasswordHasher, UnitOfWorkFactory
from crm.services.pipelines import add_default_pipeline
from crm.services.tenant_settings import initialise_tenant
from crm.services.tokens import TokenService

MIN_PASSWORD_LENGTH = 12
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


@dataclass(frozen=True)
class SignUp:
    name: str
    slug: str
    owner_email: str
    owner_password: str
    owner_name: str


def sign_up(
    command: SignUp,
    *,
    unit_of_work: UnitOfWorkFactory,
    hasher: PasswordHasher,
    meta: RequestMeta | None = None,
) -> tuple[Tenant, User]:
    problems = []
    if not SLUG.match(command.slug):
        problems.append(
            {
                "loc": ["body", "slug"],
                "msg": "lowercase letters, digits and '-', 2-63 chars",
                "type": "value_error",
            }
        )
    if len(command.owner_password) < MIN_PASSWORD_LENGTH:
        problems.append(
            {
                "loc": ["body", "owner", "password"],
                "msg": f"at least {MIN_PASSWORD_LENGTH} characters",
                "type": "value_error",
            }
        )
    if problems:
        raise ValidationFailed("the sign-up was rejected", problems)
    tenant = Tenant(name=command.name, slug=command.slug)
    owner = User(
        tenant_id=tenant.id,
        email=command.owner_email.lower(),
        name=command.owner_name,
        password_hash=hasher.hash(command.owner_password),
        role=Role.OWNER,
    )
    with unit_of_work(tenant.id) as uow:
        uow.tenants.add(tenant)
        uow.users.add(owner, tenant_slug=tenant.slug)
        initialise_tenant(uow, tenant, owner, meta or RequestMeta())
        add_default_pipeline(uow, tenant.id, created_by=owner.id)
        uow.commit()
    return tenant, owner


def log_in(
    email: str,
    password: str,
    tenant_slug: str | None,
    *,
    login_directory: Callable[[], AbstractContextManager[LoginDirectory]],
    unit_of_work: UnitOfWorkFactory,
    hasher: PasswordHasher,
    tokens: TokenService,
) -> dict[str, Any]:
    """Same error for unknown email, wrong password and wrong tenant: no account enumeration."""
    with login_directory() as directory:
        candidates = directory.tenants_for(email.lower())
    if tenant_slug is not None:
        candidates = [c for c in candidates if c[1] == tenant_slug]
    if len(candidates) > 1:
        raise ValidationFailed(
            "this email belongs to several organisations: say which one",
            [{"loc": ["body", "tenant"], "msg": "required for this email", "type": "missing"}],
        )
    if not candidates:
        hasher.hash(password)  # spend the same time as a real check
        raise InvalidCredentials("email or password is wrong")
    tenant_id = candidates[0][0]
    with unit_of_work(tenant_id) as uow:
        user = uow.users.get_by_email(email)
    if user is None or user.status != "active" or not hasher.verify(user.password_hash, password):
        raise InvalidCredentials("email or password is wrong")
    principal = Principal(tenant_id=tenant_id, user_id=user.id, role=user.role)
    return {**tokens.issue(principal), "tenant_id": str(tenant_id), "user_id": str(user.id)}
