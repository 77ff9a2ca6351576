"""Scheduled sweep of the outbox: publishes events the post-commit publish did not."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.observability import logger, metrics
from crm.services.relay import relay_outbox
from crm.settings import RelaySettings

settings = RelaySettings.from_env()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    published = relay_outbox(
        bootstrap.relay_store(settings.relay_url),
        bootstrap.publisher(settings.amqp_url),
        older_than_seconds=settings.relay_min_age_seconds,
    )
    metrics.add_metric(name="OutboxEventsRelayed", unit="Count", value=published)
    return {"published": published}
