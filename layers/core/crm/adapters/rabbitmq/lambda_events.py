"""CloudEvents out of a Lambda `aws:rmq` batch (Amazon MQ for RabbitMQ event source)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aws_lambda_powertools.utilities.data_classes.rabbit_mq_event import RabbitMQEvent

from crm.domain.events import CloudEvent
from crm.observability import logger, metrics


def cloud_events(event: dict[str, Any]) -> Iterator[CloudEvent]:
    """Yield each message as a CloudEvent. A message that is not one can never succeed, so it
    is logged and counted instead of failing (and endlessly redelivering) the whole batch."""
    for queue, messages in RabbitMQEvent(event).rmq_messages_by_queue.items():
        for message in messages:
            try:
                yield CloudEvent.from_json(message.decoded_data)
            except (ValueError, KeyError, TypeError) as error:
                metrics.add_metric(name="MalformedMessages", unit="Count", value=1)
                logger.error(
                    "dropping a message that is not a CRM CloudEvent",
                    extra={"queue": queue, "message_id": message.basic_properties.message_id,
                           "error": str(error)},
                )  # fmt: skip
