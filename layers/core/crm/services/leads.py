"""Lead use cases (the skeleton's create and get; the CRM core issue grows the rest)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from crm.domain.audit import RequestMeta
from crm.domain.errors import NotFound
from crm.domain.leads import Lead
from crm.domain.permissions import may_access_record
from crm.domain.plans import Metric
from crm.domain.tenants import Principal
from crm.ports import UnitOfWorkFactory
from crm.services.audit_logs import record_change
from crm.services.idempotency import claim_key
from crm.services.plans import ensure_within_limit


@dataclass(frozen=True)
class NewLead:
    name: str
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    source: str | None = None


def create_lead(
    command: NewLead,
    principal: Principal,
    *,
    unit_of_work: UnitOfWorkFactory,
    idempotency_key: str | None = None,
    correlation_id: str | None = None,
    meta: RequestMeta | None = None,
) -> tuple[dict[str, Any], bool]:
    """Create a lead and its crm.lead.created event in one transaction.

    Returns (lead, replayed): with an Idempotency-Key seen before for the same request, the
    first response is returned and nothing is written; for a different request, 422.
    """
    with unit_of_work(principal.tenant_id) as uow:
        claim = claim_key(uow, idempotency_key, "leads.create", command.__dict__)
        if claim.replay is not None:
            return claim.replay.body, True
        ensure_within_limit(uow, Metric.LEADS)
        lead = Lead(
            tenant_id=principal.tenant_id,
            name=command.name,
            email=command.email.lower() if command.email else None,
            phone=command.phone,
            company=command.company,
            source=command.source,
            owner_id=principal.user_id,
            created_by=principal.user_id,
        )
        uow.leads.add(lead)
        uow.add_event(lead.created_event(correlation_id))
        body = lead.to_dict()
        # No personal data in the append-only audit log (GDPR erasure cannot reach it): the
        # lead's own history keeps the values.
        record_change(
            uow, principal, "lead.created", entity_type="lead", entity_id=str(lead.id),
            before=None, after={k: body[k] for k in ("status", "source", "owner_id")},
            meta=meta or RequestMeta(),
        )  # fmt: skip
        claim.complete(201, body)
        uow.commit()
    return body, False


def get_lead(
    lead_id: uuid.UUID, principal: Principal, *, unit_of_work: UnitOfWorkFactory
) -> dict[str, Any]:
    with unit_of_work(principal.tenant_id) as uow:
        lead = uow.leads.get(lead_id)
    # Another seller's lead is as invisible as another tenant's: 404, never 403.
    if lead is None or not may_access_record(principal, lead.owner_id):
        raise NotFound(f"lead {lead_id} not found")
    return lead.to_dict()
