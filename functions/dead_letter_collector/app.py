"""Consumes the consumers' dead-letter queues (q.<consumer>.dlq): stores each message as a
dead letter of its tenant, for admins to list, redrive or discard (/admin/dead-letters).

A database outage fails the batch and the event source redelivers it: a dead-letter queue has
no delivery limit, so nothing is dropped while the database is away.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.adapters.rabbitmq.lambda_events import inbound_messages
from crm.observability import logger, metrics
from crm.services.consuming import utc_now
from crm.services.dead_letters import collect_dead_letters
from crm.settings import DatabaseSettings

settings = DatabaseSettings.from_env()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    db = bootstrap.database(settings.database_url, pool_size=settings.database_pool_size)
    return collect_dead_letters(
        inbound_messages(event),
        unit_of_work=db.unit_of_work,
        clock=utc_now,
        is_transient=bootstrap.transient_errors(),
    )
