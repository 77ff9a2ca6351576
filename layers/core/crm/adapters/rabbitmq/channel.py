"""A confirm-mode channel that publishes batches: every message is confirmed by the broker
(and routed: mandatory) or the call raises.

One connection per instance, reopened after a failure; a lock serialises callers because a
pika BlockingConnection is not thread-safe (the local cloud runs handlers on threads).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel


@dataclass(frozen=True)
class OutgoingMessage:
    exchange: str
    routing_key: str
    body: bytes
    properties: pika.BasicProperties


class ConfirmedChannel:
    def __init__(self, amqp_url: str) -> None:
        self._params = pika.URLParameters(amqp_url)
        self._params.connection_attempts = 1
        self._params.socket_timeout = 5
        self._params.blocked_connection_timeout = 10
        self._lock = threading.Lock()
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None

    def publish_all(self, messages: Sequence[OutgoingMessage]) -> None:
        with self._lock:
            try:
                self._publish(messages)
            except (pika.exceptions.AMQPError, OSError):
                # One reconnect: the broker may have restarted since the last use. Messages
                # confirmed before the failure are published again: consumers deduplicate.
                self._close()
                self._publish(messages)

    def _publish(self, messages: Sequence[OutgoingMessage]) -> None:
        channel = self._open_channel()
        for message in messages:
            # With confirms on, basic_publish blocks until the broker confirms and raises
            # UnroutableError / NackError otherwise (mandatory: no queue bound = an error).
            channel.basic_publish(
                exchange=message.exchange,
                routing_key=message.routing_key,
                body=message.body,
                properties=message.properties,
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
