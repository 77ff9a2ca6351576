"""Consumes q.analytics: projects lead and deal events into the OpenSearch read model, one
bulk write per index per batch (Lambda runs one environment per RabbitMQ queue, so a batch
must be cheap).

Idempotent twice over: the ledger skips events already handled, and OpenSearch's external
versioning makes a second write of the same lead version a no-op (the case the ledger cannot
cover: the index write succeeded, the ledger commit did not).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.adapters.rabbitmq.lambda_events import inbound_messages
from crm.domain.events import CloudEvent
from crm.observability import logger, metrics
from crm.services.analytics import project_events
from crm.services.consuming import consume_batch_idempotent
from crm.settings import AnalyticsSettings

settings = AnalyticsSettings.from_env()


def project(events: Sequence[CloudEvent]) -> dict[uuid.UUID, Exception]:
    return project_events(
        events,
        index=bootstrap.lead_index(
            settings.opensearch_url, settings.opensearch_auth, settings.aws_region
        ),
        deals=bootstrap.deal_index(
            settings.opensearch_url, settings.opensearch_auth, settings.aws_region
        ),
    )


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    metrics.add_dimension(name="consumer", value="analytics")
    consumer = bootstrap.consumer("analytics", settings)
    return consume_batch_idempotent(inbound_messages(event), consumer, project).as_dict()
