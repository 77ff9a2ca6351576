"""Consumes q.email: sends each crm.email.requested email once through the deployment's
transport (SES v2 or SMTP), after checking the suppression list and the plan's daily quota;
a failing transport retries the event through the delay queues, then the event goes to the
dead letters and the email is marked failed (see crm.services.emails)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from crm import bootstrap
from crm.adapters.rabbitmq.lambda_events import inbound_messages
from crm.domain.emails import unsubscribe_headers
from crm.domain.events import CloudEvent
from crm.observability import logger, metrics
from crm.ports import UnitOfWork
from crm.services.consuming import consume_batch
from crm.services.emails import deliver_requested
from crm.services.webhook_delivery import final_attempts
from crm.settings import EmailWorkerSettings

settings = EmailWorkerSettings.from_env()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    metrics.add_dimension(name="consumer", value="email")
    consumer = bootstrap.consumer("email", settings)
    transport = bootstrap.email_transport(settings)
    messages = inbound_messages(event)
    last = final_attempts(messages, consumer)

    def send(cloud_event: CloudEvent, uow: UnitOfWork) -> None:
        outcome = deliver_requested(
            cloud_event,
            uow,
            unit_of_work=consumer.unit_of_work,
            transport=transport,
            final_attempt=cloud_event.id in last,
            extra_headers=lambda email: unsubscribe_headers(email, settings.unsubscribe_url),
        )
        if outcome.status != "skipped":
            metrics.add_metric(name=f"Emails{outcome.status.title()}", unit="Count", value=1)

    return consume_batch(messages, consumer, send).as_dict()
