"""Consumes q.notification: turns each event (a lead, contact or task assigned to someone)
into that user's in-app notification, once (crm.services.notifications); the
crm.notification.created events it writes are published right after the commit, for the
realtime notifier to push to the user's WebSocket connections."""

from __future__ import annotations

import dataclasses
from typing import Any, cast

from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.adapters.rabbitmq.lambda_events import inbound_messages
from crm.domain.events import CloudEvent
from crm.observability import logger, metrics
from crm.ports import UnitOfWork, UnitOfWorkFactory
from crm.services.consuming import consume_batch
from crm.services.notifications import notify_for_event
from crm.settings import NotificationWorkerSettings

settings = NotificationWorkerSettings.from_env()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    metrics.add_dimension(name="consumer", value="notification")
    db = bootstrap.database(
        settings.database_url, settings.amqp_url, pool_size=settings.database_pool_size
    )
    consumer = dataclasses.replace(
        bootstrap.consumer("notification", settings),
        unit_of_work=cast(UnitOfWorkFactory, db.unit_of_work),
    )

    def produce(cloud_event: CloudEvent, uow: UnitOfWork) -> None:
        created = notify_for_event(cloud_event, uow)
        if created:
            metrics.add_metric(name="NotificationsCreated", unit="Count", value=len(created))

    return consume_batch(inbound_messages(event), consumer, produce).as_dict()
