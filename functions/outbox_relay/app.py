"""Scheduled sweep of the outbox: publishes events the post-commit publish did not, then
prunes published rows and consumer ledger rows past their retention periods."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.observability import logger, metrics
from crm.services.relay import prune_retained, relay_outbox
from crm.settings import RelaySettings

settings = RelaySettings.from_env()
HOUR = 3600.0


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    store = bootstrap.relay_store(settings.relay_url)
    published = relay_outbox(
        store,
        bootstrap.publisher(settings.amqp_url),
        older_than_seconds=settings.relay_min_age_seconds,
    )
    pruned_outbox, pruned_ledger = prune_retained(
        store,
        outbox_retention_seconds=settings.outbox_retention_hours * HOUR,
        processed_retention_seconds=settings.processed_events_retention_hours * HOUR,
    )
    metrics.add_metric(name="OutboxEventsRelayed", unit="Count", value=published)
    metrics.add_metric(name="OutboxRowsPruned", unit="Count", value=pruned_outbox)
    metrics.add_metric(name="ProcessedEventsPruned", unit="Count", value=pruned_ledger)
    # after the sweep: what is still waiting (template.yaml: OutboxAgeAlarm)
    metrics.add_metric(
        name="OutboxOldestUnpublishedAgeSeconds",
        unit="Seconds",
        value=store.oldest_unpublished_age_seconds(),
    )
    return {"published": published, "pruned_outbox": pruned_outbox,
            "pruned_processed_events": pruned_ledger}  # fmt: skip
