"""A tenant's settings (timezone, currency, locale, MFA policy, ...) and name."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import ValidationError

from crm.domain.audit import RequestMeta
from crm.domain.concurrency import Precondition
from crm.domain.errors import NotFound, ValidationFailed
from crm.domain.tenant_settings import TenantSettings
from crm.domain.tenants import Principal, Tenant, User
from crm.ports import UnitOfWork, UnitOfWorkFactory
from crm.services.audit_logs import record_change


def initialise_tenant(uow: UnitOfWork, tenant: Tenant, owner: User, meta: RequestMeta) -> None:
    """What sign-up creates for tenancy, in its unit of work: the default settings written out
    (so SQL readers see every key) and the audit row. The plan is the tenant row's (free);
    usage counters are kept by the tables' triggers from the first row on."""
    profile = uow.tenant_profile.get()
    assert profile is not None
    uow.tenant_profile.update(
        name=profile.name,
        settings=TenantSettings().model_dump(),
        plan=profile.plan,
        expected_version=profile.version,
    )
    signed_up_by = Principal(tenant_id=tenant.id, user_id=owner.id, role=owner.role)
    record_change(
        uow,
        signed_up_by,
        "tenant.signed_up",
        entity_type="tenant",
        entity_id=str(tenant.id),
        before=None,
        after={
            "name": tenant.name,
            "slug": tenant.slug,
            "plan": profile.plan,
            "owner_email": owner.email,
            "owner_name": owner.name,
        },
        meta=meta,
    )


def get_settings(
    tenant_id: uuid.UUID, principal: Principal, *, unit_of_work: UnitOfWorkFactory
) -> dict[str, Any]:
    own_tenant(tenant_id, principal)
    with unit_of_work(principal.tenant_id) as uow:
        profile = uow.tenant_profile.get()
    assert profile is not None, "the caller's tenant is always visible to it"
    return profile.to_dict()


def update_settings(
    tenant_id: uuid.UUID,
    changes: dict[str, Any],
    principal: Principal,
    *,
    unit_of_work: UnitOfWorkFactory,
    meta: RequestMeta,
    precondition: Precondition | None = None,
) -> dict[str, Any]:
    """Applies `changes` (name and/or settings fields; absent ones stay) and validates the
    result as a whole."""
    own_tenant(tenant_id, principal)
    name = changes.pop("name", None)
    with unit_of_work(principal.tenant_id) as uow:
        profile = uow.tenant_profile.get(for_update=True)
        assert profile is not None
        if precondition is not None:
            precondition.check(profile.version, "the tenant's settings")
        before = TenantSettings.stored(profile.settings)
        try:
            after = TenantSettings.model_validate({**before.model_dump(), **changes})
        except ValidationError as error:
            raise ValidationFailed(
                "the settings were rejected",
                [{**e, "loc": ["body", *e["loc"]]} for e in error.errors()],
            ) from error
        new_name = name if name is not None else profile.name
        if after == before and new_name == profile.name:
            return profile.to_dict()
        updated = uow.tenant_profile.update(
            name=new_name,
            settings=after.model_dump(),
            plan=profile.plan,
            expected_version=profile.version,
        )
        assert updated is not None, "the row is locked"
        record_change(
            uow,
            principal,
            "tenant.settings_updated",
            entity_type="tenant",
            entity_id=str(tenant_id),
            before={"name": profile.name, **before.model_dump()},
            after={"name": new_name, **after.model_dump()},
            meta=meta,
        )
        uow.commit()
    return updated.to_dict()


def own_tenant(tenant_id: uuid.UUID, principal: Principal) -> None:
    """Another tenant's id answers 404, never 403: existence is not disclosed."""
    if tenant_id != principal.tenant_id:
        raise NotFound(f"tenant {tenant_id} not found")
