"""The analytics read side: events in, OpenSearch documents out, reports from OpenSearch."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from crm.domain.events import CloudEvent
from crm.domain.tenants import Principal
from crm.ports import LeadSearchIndex

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


def project_events(
    events: Sequence[CloudEvent], *, index: LeadSearchIndex
) -> dict[uuid.UUID, Exception]:
    """Apply a batch of events to the read model in one bulk write; returns the events the
    index rejected, with why. Events that do not concern the read model need nothing."""
    documents: list[tuple[CloudEvent, dict[str, Any]]] = []
    for event in events:
        if event.type in LEAD_EVENTS:
            documents.append((event, event.data["lead"]))
        elif event.type == IMPORTED:
            documents += [(event, lead) for lead in event.data["leads"]]
    results = index.index_leads([(event.tenant_id, lead) for event, lead in documents])
    return {
        event.id: error
        for (event, _), error in zip(documents, results, strict=True)
        if error is not None
    }


def leads_report(principal: Principal, *, index: LeadSearchIndex) -> dict[str, object]:
    by_status = index.count_by_status(principal.tenant_id)
    return {"total": sum(by_status.values()), "by_status": by_status}
