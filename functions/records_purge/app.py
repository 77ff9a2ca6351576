"""Scheduled housekeeping of the CRM core: deletes for good the leads and contacts soft-deleted
more than 30 days ago (with their history and notes), deletes archived events past the plan's
retention, and starts again lead imports no run has moved for ten minutes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.observability import logger, metrics
from crm.services.event_archive import purge_event_archive
from crm.services.imports import resume_stalled_imports
from crm.services.purge import purge_expired_records
from crm.settings import HousekeepingSettings

settings = HousekeepingSettings.from_env()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    now = datetime.now(UTC)
    directory = bootstrap.expired_records(settings.relay_database_url)
    outcome = purge_expired_records(
        directory, unit_of_work=bootstrap.database(settings.database_url).unit_of_work, now=now
    )
    archived = purge_event_archive(
        directory, unit_of_work=bootstrap.database(settings.database_url).unit_of_work, now=now
    )
    metrics.add_metric(name="ArchivedEventsPurged", unit="Count", value=archived)
    resumed = resume_stalled_imports(
        directory, bootstrap.job_starter(settings.import_worker_function), now=now
    )
    metrics.add_metric(name="LeadsPurged", unit="Count", value=outcome.leads)
    metrics.add_metric(name="ContactsPurged", unit="Count", value=outcome.contacts)
    metrics.add_metric(name="PurgeFailedTenants", unit="Count", value=outcome.failed_tenants)
    metrics.add_metric(name="ImportsResumed", unit="Count", value=resumed)
    return {**outcome.as_dict(), "imports_resumed": resumed, "archived_events_purged": archived}
