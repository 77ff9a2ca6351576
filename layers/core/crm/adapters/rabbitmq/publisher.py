"""Publishes CloudEvents to the crm.events exchange with publisher confirms."""

from __future__ import annotations

from collections.abc import Sequence

import pika

from crm.adapters.rabbitmq.channel import ConfirmedChannel, OutgoingMessage
from crm.adapters.rabbitmq.topology import EVENTS_EXCHANGE
from crm.domain.events import CloudEvent

CONTENT_TYPE = "application/cloudevents+json"


def event_properties(event_id: str, event_type: str, tenant_id: str) -> pika.BasicProperties:
    return pika.BasicProperties(
        content_type=CONTENT_TYPE,
        delivery_mode=pika.DeliveryMode.Persistent,
        message_id=event_id,
        type=event_type,
        headers={"tenantid": tenant_id},
    )


class RabbitMqPublisher:
    def __init__(self, amqp_url: str, exchange: str = EVENTS_EXCHANGE) -> None:
        self._channel = ConfirmedChannel(amqp_url)
        self._exchange = exchange

    def publish(self, events: Sequence[CloudEvent]) -> None:
        self._channel.publish_all(
            [
                OutgoingMessage(
                    exchange=self._exchange,
                    routing_key=event.routing_key,
                    body=event.to_json(),
                    properties=event_properties(str(event.id), event.type, str(event.tenant_id)),
                )
                for event in events
            ]
        )

    def close(self) -> None:
        self._channel.close()
