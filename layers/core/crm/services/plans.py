"""Plan limits, enforced where the limited thing is created. The limits are data
(plan_limits); these functions are the one way code checks them.

- Levels (users, leads, pipelines, active automations): call `ensure_within_limit` in the unit
  of work that creates the row, before creating it. It locks the tenant's counter for that
  metric until commit, so two concurrent creations cannot both take the last slot; the table's
  usage trigger then moves the counter.
- Periodic counters (automation runs per month, emails per day): call `consume_quota` in the
  unit of work that performs the action; it counts and checks in one statement.
- API requests per minute: the API gate (crm.api.gate), once per request.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from crm.domain.audit import RequestMeta
from crm.domain.concurrency import Precondition
from crm.domain.errors import Conflict, PlanLimitExceeded, ValidationFailed
from crm.domain.plans import Metric, Period, Usage, period_end, period_start
from crm.domain.tenants import Principal
from crm.ports import UnitOfWorkFactory
from crm.ports.tenancy import PlanUsageUnitOfWork
from crm.services.audit_logs import record_change
from crm.services.tenant_settings import own_tenant


def ensure_within_limit(uow: PlanUsageUnitOfWork, metric: Metric, adding: int = 1) -> None:
    used, limit, plan = uow.usage.lock_level(metric)
    if limit is not None and used + adding > limit:
        raise PlanLimitExceeded(metric, limit, used, plan)


def consume_quota(uow: PlanUsageUnitOfWork, metric: Metric, amount: int = 1) -> int:
    """Count `amount` of a periodic metric; raises PlanLimitExceeded (counting nothing) when it
    would pass the plan's limit. Returns the period's usage after counting."""
    consumed, used, limit, plan, _ = uow.usage.consume(metric, amount)
    if not consumed:
        assert limit is not None
        raise PlanLimitExceeded(metric, limit, used, plan)
    return used


def usage_report(
    tenant_id: uuid.UUID,
    principal: Principal,
    *,
    unit_of_work: UnitOfWorkFactory,
    now: datetime | None = None,
) -> dict[str, Any]:
    own_tenant(tenant_id, principal)
    now = now or datetime.now(UTC)
    starts = {period: period_start(period, now) for period in Period}
    with unit_of_work(principal.tenant_id) as uow:
        profile = uow.tenant_profile.get()
        assert profile is not None, "the caller's tenant is always visible to it"
        rows = uow.usage.counters(profile.plan, starts)
    usage = {
        row.metric: Usage(
            metric=row.metric,
            period=row.period,
            used=row.used,
            limit=row.max_value,
            period_start=row.period_start,
            resets_at=period_end(row.period, row.period_start) if row.period_start else None,
        ).to_dict()
        for row in rows
    }
    return {"tenant_id": str(tenant_id), "plan": profile.plan, "usage": usage}


def change_plan(
    tenant_id: uuid.UUID,
    plan: str,
    principal: Principal,
    *,
    unit_of_work: UnitOfWorkFactory,
    meta: RequestMeta,
    precondition: Precondition | None = None,
) -> dict[str, Any]:
    """An owner action (billing:update). A downgrade is refused while the tenant uses more of a
    level (users, leads, ...) than the new plan allows: nothing would be deleted silently."""
    own_tenant(tenant_id, principal)
    with unit_of_work(principal.tenant_id) as uow:
        if not uow.usage.plan_exists(plan):
            raise ValidationFailed(
                f"there is no plan {plan!r}",
                [{"loc": ["body", "plan"], "msg": "unknown plan", "type": "value_error"}],
            )
        profile = uow.tenant_profile.get(for_update=True)
        assert profile is not None
        if precondition is not None:
            precondition.check(profile.version, "the tenant")
        if profile.plan == plan:
            return profile.to_dict()
        starts = {period: period_start(period, datetime.now(UTC)) for period in Period}
        over = [
            {"metric": row.metric, "used": row.used, "limit": row.max_value}
            for row in uow.usage.counters(plan, starts)
            if row.period is Period.NONE and row.max_value is not None and row.used > row.max_value
        ]
        if over:
            raise Conflict(
                f"the {plan} plan allows less than this tenant uses; reduce usage first",
                exceeded=over,
            )
        updated = uow.tenant_profile.update(
            name=profile.name,
            settings=profile.settings,
            plan=plan,
            expected_version=profile.version,
        )
        assert updated is not None, "the row is locked"
        record_change(
            uow,
            principal,
            "tenant.plan_changed",
            entity_type="tenant",
            entity_id=str(tenant_id),
            before={"plan": profile.plan},
            after={"plan": plan},
            meta=meta,
        )
        uow.commit()
    return updated.to_dict()
