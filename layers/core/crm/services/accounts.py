"""Sign-up: a tenant and its owner. (Login, refresh, logout: crm.services.authentication.)"""

from __future__ import annotations

import re
from dataclasses import dataclass

from crm.domain.audit import RequestMeta
from crm.domain.errors import ValidationFailed
from crm.domain.password_policy import password_problems
from crm.domain.tenants import Role, Tenant, User
from crm.ports import PasswordHasher, UnitOfWorkFactory
from crm.services.pipelines import add_default_pipeline
from crm.services.tenant_settings import initialise_tenant

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
    problems += password_problems(
        command.owner_password, email=command.owner_email, loc=("body", "owner", "password")
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
