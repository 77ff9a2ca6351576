"""The analytics read side: events in, OpenSearch documents out, reports from OpenSearch."""

from __future__ import annotations

from crm.domain.events import CloudEvent
from crm.domain.tenants import Principal
from crm.ports import LeadSearchIndex

LEAD_EVENTS = {"crm.lead.created", "crm.lead.updated"}


def project_event(event: CloudEvent, *, index: LeadSearchIndex) -> bool:
    """Apply one event to the read model; returns whether the event concerned it."""
    if event.type in LEAD_EVENTS:
        index.index_lead(event.tenant_id, event.data["lead"])
        return True
    return False


def leads_report(principal: Principal, *, index: LeadSearchIndex) -> dict[str, object]:
    by_status = index.count_by_status(principal.tenant_id)
    return {"total": sum(by_status.values()), "by_status": by_status}
