"""Retention of the event archive: each tenant keeps its events for its plan's
`event_archive_days` (30 / 180 / 730). Scheduled with the records purge (functions/
records_purge); each tenant's rows are deleted in its own unit of work, as the app role."""

from __future__ import annotations

from datetime import datetime, timedelta

from crm.observability import logger
from crm.ports import UnitOfWorkFactory
from crm.ports.automation_effects import ArchiveDirectory

# The shortest retention of any plan: no tenant keeps less, so older rows are candidates.
SHORTEST_RETENTION = timedelta(days=1)


def purge_event_archive(
    directory: ArchiveDirectory, *, unit_of_work: UnitOfWorkFactory, now: datetime
) -> int:
    """Delete every tenant's archived events past its plan's retention; returns how many."""
    removed = 0
    for tenant_id in directory.tenants_with_archive_before(now - SHORTEST_RETENTION):
        try:
            with unit_of_work(tenant_id) as uow:
                removed += uow.event_archive.purge_expired(now)
                uow.commit()
        except Exception:
            logger.exception("archive purge failed", extra={"purge_tenant_id": str(tenant_id)})
    return removed
