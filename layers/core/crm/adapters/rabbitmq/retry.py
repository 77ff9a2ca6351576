"""Where failed messages go: a delay queue on their way back to their queue, the consumer's
dead-letter queue in the end, and, on an admin's redrive, straight back to the queue.

Every publish is confirmed and mandatory, so a message leaves its batch only once the broker
holds it somewhere else; a failure here raises and the whole batch is redelivered.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pika

from crm.adapters.rabbitmq.channel import ConfirmedChannel, OutgoingMessage
from crm.adapters.rabbitmq.publisher import event_properties
from crm.adapters.rabbitmq.topology import DEAD_LETTER_EXCHANGE, DEFAULT_EXCHANGE
from crm.domain.messaging import FailureRecord, InboundMessage, retry_exchange_of


def _failed_copy(
    message: InboundMessage, failure: FailureRecord
) -> tuple[bytes, pika.BasicProperties]:
    if message.event is None:
        raise ValueError("only CloudEvents are retried; a malformed message is dropped")
    event = message.event
    properties = event_properties(str(event.id), event.type, str(event.tenant_id))
    properties.headers = {**(properties.headers or {}), **failure.to_headers()}
    return message.body, properties


class RabbitMqFailedMessages:
    def __init__(self, channel: ConfirmedChannel) -> None:
        self._channel = channel

    def retry(self, message: InboundMessage, failure: FailureRecord, delay_seconds: float) -> None:
        body, properties = _failed_copy(message, failure)
        # The routing key survives the delay queue's dead-lettering to the default exchange,
        # which routes it to the queue of that name: the one the message came from.
        self._channel.publish_all(
            [OutgoingMessage(retry_exchange_of(delay_seconds), message.queue, body, properties)]
        )

    def dead_letter(self, message: InboundMessage, failure: FailureRecord) -> None:
        body, properties = _failed_copy(message, failure)
        self._channel.publish_all(
            [OutgoingMessage(DEAD_LETTER_EXCHANGE, message.queue, body, properties)]
        )


class RabbitMqRedriver:
    def __init__(self, channel: ConfirmedChannel) -> None:
        self._channel = channel

    def redrive(self, deliveries: Sequence[tuple[str, dict[str, Any]]]) -> None:
        self._channel.publish_all(
            [
                OutgoingMessage(
                    DEFAULT_EXCHANGE,
                    queue,
                    json.dumps(envelope, separators=(",", ":")).encode(),
                    event_properties(envelope["id"], envelope["type"], envelope["tenantid"]),
                )
                for queue, envelope in deliveries
            ]
        )
