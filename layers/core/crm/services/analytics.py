"""The analytics read side: events in, OpenSearch documents out, reports from OpenSearch."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from crm.domain.events import CloudEvent
from crm.domain.tenants import Principal
from crm.ports import DealSearchIndex, LeadSearchIndex
from crm.services.pipelines import visible_to

# Every lead event carries the lead as the change wrote it (deleted ones with deleted_at, which
# the index keeps as a tombstone); the document's version orders them.
LEAD_EVENTS = {
    "crm.lead.created",
    "crm.lead.updated",
    "crm.lead.status_changed",
    "crm.lead.assigned",
    "crm.lead.tagged",
    "crm.lead.deleted",
    "crm.lead.restored",
    "crm.lead.converted",
    "crm.lead.merged",
}


# An import's batch event carries its leads (crm.services.imports).
IMPORTED = "crm.lead.imported"

# Every deal event carries the deal as the change wrote it (crm.domain.deal_event_data); a
# move emits updated + stage_changed (+ won/lost) with the same version: one write, no-ops.
DEAL_EVENTS = {
    "crm.deal.created",
    "crm.deal.updated",
    "crm.deal.stage_changed",
    "crm.deal.won",
    "crm.deal.lost",
    "crm.deal.deleted",
    "crm.deal.restored",
}


def project_events(
    events: Sequence[CloudEvent],
    *,
    index: LeadSearchIndex,
    deals: DealSearchIndex | None = None,
) -> dict[uuid.UUID, Exception]:
    """Apply a batch of events to the read model in one bulk write per index; returns the
    events an index rejected, with why. Events that do not concern the read model need
    nothing (deal events neither, without a deal index)."""
    documents: list[tuple[CloudEvent, dict[str, Any]]] = []
    deal_documents: list[tuple[CloudEvent, dict[str, Any]]] = []
    for event in events:
        if event.type in LEAD_EVENTS:
            documents.append((event, event.data["lead"]))
        elif event.type == IMPORTED:
            documents += [(event, lead) for lead in event.data["leads"]]
        elif event.type in DEAL_EVENTS and deals is not None:
            deal_documents.append((event, event.data["deal"]))
    results = index.index_leads([(event.tenant_id, lead) for event, lead in documents])
    if deals is not None and deal_documents:
        results += deals.index_deals([(event.tenant_id, deal) for event, deal in deal_documents])
    rejected: dict[uuid.UUID, Exception] = {}
    for (event, _), error in zip(documents + deal_documents, results, strict=True):
        if error is not None:
            rejected[event.id] = error
    return rejected


def leads_report(principal: Principal, *, index: LeadSearchIndex) -> dict[str, object]:
    """Lead counts by status, and "tempo médio de lead": the mean days from a lead's creation
    to its conversion (None without converted leads; qualification has no timestamp). A seller
    counts the leads they own or nobody owns, as in the lists."""
    owner = visible_to(principal)
    by_status = index.count_by_status(principal.tenant_id, owner)
    average = index.average_days_to_convert(principal.tenant_id, owner)
    return {
        "total": sum(by_status.values()),
        "by_status": by_status,
        "average_days_to_convert": None if average is None else round(average, 2),
    }
