"""Purge: leads and contacts soft-deleted more than 30 days ago are deleted for good, with
their history and notes. Scheduled (functions/records_purge). Each tenant's records go in its
own units of work, as the app role (row-level security and the usage counters apply); only
the list of tenants with something to purge is read across tenants."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from crm.domain.records import PURGE_AFTER_DAYS
from crm.observability import logger
from crm.ports import ExpiredRecordsDirectory, UnitOfWorkFactory

BATCH = 500  # records per transaction: a large backlog never makes one long transaction


@dataclass(frozen=True)
class PurgeOutcome:
    tenants: int
    leads: int
    contacts: int
    failed_tenants: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "tenants": self.tenants,
            "leads": self.leads,
            "contacts": self.contacts,
            "failed_tenants": self.failed_tenants,
        }


def purge_expired_records(
    directory: ExpiredRecordsDirectory,
    *,
    unit_of_work: UnitOfWorkFactory,
    now: datetime,
    retention: timedelta = timedelta(days=PURGE_AFTER_DAYS),
) -> PurgeOutcome:
    cutoff = now - retention
    tenants = directory.tenants_with_deletions_before(cutoff)
    leads = contacts = failed = 0
    for tenant_id in tenants:
        try:
            purged_leads, purged_contacts = _purge_tenant(unit_of_work, tenant_id, cutoff)
        except Exception:
            # One tenant's failure must not keep the others' records forever; the next run
            # tries it again.
            logger.exception("purge failed for a tenant", extra={"purge_tenant_id": str(tenant_id)})
            failed += 1
            continue
        leads += purged_leads
        contacts += purged_contacts
    return PurgeOutcome(len(tenants), leads, contacts, failed)


def _purge_tenant(
    unit_of_work: UnitOfWorkFactory, tenant_id: uuid.UUID, cutoff: datetime
) -> tuple[int, int]:
    counts = {"leads": 0, "contacts": 0}
    # Leads first: a contact converted from a lead lets go of it, not the other way.
    for kind in ("leads", "contacts"):
        while True:
            with unit_of_work(tenant_id) as uow:
                repository = uow.leads if kind == "leads" else uow.contacts
                purged = repository.purge_deleted(cutoff, BATCH)
                uow.commit()
            counts[kind] += purged
            if purged < BATCH:
                break
    return counts["leads"], counts["contacts"]
