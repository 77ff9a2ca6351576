"""Consumes q.realtime: posts each event's compact message (ids and statuses only; clients
refetch through the REST API) to the WebSocket connections of its tenant whose users may read
it now (crm.services.realtime). A connection the Management API reports gone (410) is deleted;
any other failure retries the event through the consumer framework (delay queues, then the
dead letters; an outage of the database or the Management API fails the whole batch)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.adapters.rabbitmq.lambda_events import inbound_messages
from crm.domain.events import CloudEvent
from crm.observability import logger, metrics
from crm.ports import UnitOfWork
from crm.services.consuming import consume_batch
from crm.services.realtime import Audience, notify
from crm.settings import RealtimeNotifierSettings

settings = RealtimeNotifierSettings.from_env()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    metrics.add_dimension(name="consumer", value="realtime")
    consumer = bootstrap.consumer("realtime", settings)
    sender = bootstrap.connection_sender(settings.websocket_management_url)
    audience = Audience()  # each tenant's connections and their users' roles, once per batch

    def post(cloud_event: CloudEvent, uow: UnitOfWork) -> None:
        report = notify(cloud_event, uow, audience=audience, sender=sender)
        if report.sent:
            metrics.add_metric(name="RealtimeMessagesSent", unit="Count", value=report.sent)
        if report.gone:
            metrics.add_metric(name="RealtimeConnectionsGone", unit="Count", value=report.gone)

    return consume_batch(inbound_messages(event), consumer, post).as_dict()
