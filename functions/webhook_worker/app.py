"""Consumes q.webhook: sends each event to the tenant's active webhook endpoints that
subscribed to its type, signed per Standard Webhooks; an endpoint that fails gets the event
again through the retry delay queues, then the event goes to the dead letters (see
crm.services.webhook_delivery)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.adapters.rabbitmq.lambda_events import inbound_messages
from crm.domain.events import CloudEvent
from crm.observability import logger, metrics
from crm.ports import UnitOfWork
from crm.services.consuming import consume_batch
from crm.services.webhook_delivery import deliver_event, final_attempts
from crm.settings import WebhookWorkerSettings

settings = WebhookWorkerSettings.from_env()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    metrics.add_dimension(name="consumer", value="webhook")
    consumer = bootstrap.consumer("webhook", settings)
    transport = bootstrap.webhook_transport(
        settings.webhook_allow_http,
        settings.webhook_allow_private_targets,
        settings.webhook_timeout_seconds,
        settings.webhook_hosts_file,
    )
    cipher = bootstrap.field_cipher(settings.webhook_encryption_secret_arn)
    messages = inbound_messages(event)
    last = final_attempts(messages, consumer)

    def deliver(cloud_event: CloudEvent, uow: UnitOfWork) -> None:
        report = deliver_event(
            cloud_event,
            uow,
            unit_of_work=consumer.unit_of_work,
            cipher=cipher,
            transport=transport,
            final_attempt=cloud_event.id in last,
        )
        if report.delivered:
            metrics.add_metric(name="WebhooksDelivered", unit="Count", value=report.delivered)

    return consume_batch(messages, consumer, deliver).as_dict()
