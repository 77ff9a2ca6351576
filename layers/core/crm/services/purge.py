"""Purge: leads and contacts soft-deleted more than 30 days ago are deleted for good, with
their history and notes. Scheduled (functions/records_purge). Each tenant's records go in its
own units of work, as the app role (row-level security and the usage counters apply); only
the list of tenants with something to purge is read across tenants."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from crm.domain.records import PURGE_AFTER_DAYS
from crm.ports import ExpiredRecordsDirectory, UnitOfWorkFactory

BATCH = 500  # records per transaction: a large backlog never makes one long transaction


@dataclass(frozen=True)
class PurgeOutcome:
    tenants: int
    leads: int
    contacts: int

    def as_dict(self) -> dict[str, int]:
        return {"tenants": self.tenants, "leads": self.leads, "contacts": self.contacts}


def purge_expired_records(
    directory: ExpiredRecordsDirectory,
    *,
    unit_of_work: UnitOfWorkFactory,
    now: datetime,
    retention: timedelta = timedelta(days=PURGE_AFTER_DAYS),
) -> PurgeOutcome:
    cutoff = now - retention
    tenants = directory.tenants_with_deletions_before(cutoff)
    leads = contacts = 0
    for tenant_id in tenants:
        # Leads first: a contact converted from a lead lets go of it, not the other way.
        for purge in ("leads", "contacts"):
            while True:
                with unit_of_work(tenant_id) as uow:
                    repository = uow.leads if purge == "leads" else uow.contacts
                    purged = repository.purge_deleted(cutoff, BATCH)
                    uow.commit()
                if purge == "leads":
                    leads += purged
                else:
                    contacts += purged
                if purged < BATCH:
                    break
    return PurgeOutcome(len(tenants), leads, contacts)
