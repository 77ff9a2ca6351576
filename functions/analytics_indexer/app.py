"""Consumes q.analytics: projects lead events into the OpenSearch read model.

Idempotent twice over: the consumer framework's ledger skips an event already handled, and
OpenSearch's external versioning makes a second write of the same lead version a no-op (for
the one case the ledger cannot cover: the index write succeeded, the ledger commit did not).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.adapters.rabbitmq.lambda_events import inbound_messages
from crm.domain.events import CloudEvent
from crm.observability import logger, metrics
from crm.ports import UnitOfWork
from crm.services.analytics import project_event
from crm.services.consuming import consume_batch
from crm.settings import AnalyticsSettings

settings = AnalyticsSettings.from_env()


def project(event: CloudEvent, uow: UnitOfWork) -> None:
    project_event(event, index=bootstrap.lead_index(settings.opensearch_url))


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    metrics.add_dimension(name="consumer", value="analytics")
    outcome = consume_batch(
        inbound_messages(event), bootstrap.consumer("analytics", project, settings)
    )
    return outcome.as_dict()
