"""Lead use cases (the skeleton's create and get; the CRM core issue grows the rest)."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from crm.domain.errors import Conflict, NotFound
from crm.domain.leads import Lead
from crm.domain.tenants import Principal
from crm.ports import UnitOfWorkFactory


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
) -> tuple[dict[str, Any], bool]:
    """Create a lead and its crm.lead.created event in one transaction.

    Returns (lead, replayed): with an Idempotency-Key seen before for the same request, the
    first response is returned and nothing is written; for a different request, 409.
    """
    request_hash = hashlib.sha256(json.dumps(command.__dict__, sort_keys=True).encode()).hexdigest()
    with unit_of_work(principal.tenant_id) as uow:
        if idempotency_key:
            previous = uow.idempotency.get(idempotency_key)
            if previous is not None:
                if previous[0] != request_hash:
                    raise Conflict("this Idempotency-Key was used for a different request")
                return previous[2], True
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
        if idempotency_key:
            uow.idempotency.put(idempotency_key, request_hash, 201, body)
        uow.commit()
    return body, False


def get_lead(
    lead_id: uuid.UUID, principal: Principal, *, unit_of_work: UnitOfWorkFactory
) -> dict[str, Any]:
    with unit_of_work(principal.tenant_id) as uow:
        lead = uow.leads.get(lead_id)
    if lead is None:
        raise NotFound(f"lead {lead_id} not found")
    return lead.to_dict()
