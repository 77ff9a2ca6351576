"""Consumes q.analytics: projects lead events into the OpenSearch read model."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.adapters.rabbitmq.lambda_events import cloud_events
from crm.observability import logger, metrics
from crm.services.analytics import project_event
from crm.settings import SearchSettings

settings = SearchSettings.from_env()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    index = bootstrap.lead_index(settings.opensearch_url)
    projected = sum(project_event(cloud_event, index=index) for cloud_event in cloud_events(event))
    metrics.add_metric(name="EventsProjected", unit="Count", value=projected)
    return {"projected": projected}
