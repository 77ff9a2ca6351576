"""Publishes CloudEvents to the crm.events exchange with publisher confirms.

One connection per process, reopened after a failure; a lock serialises publishers because a
pika BlockingConnection is not thread-safe (the local cloud runs handlers on threads).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from crm.adapters.rabbitmq.topology import EVENTS_EXCHANGE
from crm.domain.events import CloudEvent

CONTENT_TYPE = "application/cloudevents+json"


class RabbitMqPublisher:
    def __init__(self, amqp_url: str, exchange: str = EVENTS_EXCHANGE) -> None:
        self._params = pika.URLParameters(amqp_url)
        self._params.connection_attempts = 1
        self._params.socket_timeout = 5
        self._params.blocked_connection_timeout = 10
        self._exchange = exchange
        self._lock = threading.Lock()
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None

    def publish(self, events: Sequence[CloudEvent]) -> None:
        with self._lock:
            try:
                self._publish_all(events)
            except (pika.exceptions.AMQPError, OSError):
                # One reconnect: the broker may have restarted since the last use.
                self._close()
                self._publish_all(events)

    def _publish_all(self, events: Sequence[CloudEvent]) -> None:
        channel = self._open_channel()
        for event in events:
            # With confirms on, basic_publish blocks until the broker confirms and raises
            # UnroutableError / NackError otherwise (mandatory: no queue bound = an error).
            channel.basic_publish(
                exchange=self._exchange,
                routing_key=event.routing_key,
                body=event.to_json(),
                properties=pika.BasicProperties(
                    content_type=CONTENT_TYPE,
                    delivery_mode=pika.DeliveryMode.Persistent,
                    message_id=str(event.id),
                    type=event.type,
                    headers={"tenantid": str(event.tenant_id)},
                ),
                mandatory=True,
            )

    def _open_channel(self) -> BlockingChannel:
        if self._channel is None or not self._channel.is_open:
            self._close()
            self._connection = pika.BlockingConnection(self._params)
            self._channel = self._connection.channel()
            self._channel.confirm_delivery()
        return self._channel

    def _close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            with contextlib.suppress(pika.exceptions.AMQPError, OSError):
                connection.close()

    def close(self) -> None:
        with self._lock:
            self._close()
