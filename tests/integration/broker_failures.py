"""Failed messages on the real broker, for integration tests of consumers.

`BrokerFailedMessages` is the production adapter (RabbitMqFailedMessages, confirmed publishes)
pointed at a private queue of the test's own, so a retried message comes back there rather
than to a real consumer's queue. What was retried or dead-lettered is read back from the
broker: dead letters at once (a confirmed publish is in the queue), retries once a sentinel
retried after them, with the longest delay, has come back from its delay queue.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pika
from crm.adapters.rabbitmq.channel import ConfirmedChannel
from crm.adapters.rabbitmq.retry import RabbitMqFailedMessages
from crm.adapters.rabbitmq.topology import DEAD_LETTER_EXCHANGE, declare_retry_delay
from crm.domain.leads import Lead
from crm.domain.messaging import FailureRecord, InboundMessage

SENTINEL_ERROR = "sentinel"


class BrokerFailedMessages:
    def __init__(self, amqp_url: str, delays: tuple[float, ...] = (1, 2)) -> None:
        self.queue = f"itest.failures.{uuid.uuid4().hex[:8]}"
        self._connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        self._channel = self._connection.channel()
        self._channel.queue_declare(self.queue, auto_delete=True)
        self._channel.queue_declare(f"{self.queue}.dlq", auto_delete=True)
        self._channel.queue_bind(f"{self.queue}.dlq", DEAD_LETTER_EXCHANGE, routing_key=self.queue)
        for delay in delays:
            declare_retry_delay(self._channel, delay)
        self._longest_delay = max(delays)
        self._adapter = RabbitMqFailedMessages(ConfirmedChannel(amqp_url))
        self._returned: list[FailureRecord] = []
        self._dead: list[FailureRecord] = []

    def retry(self, message: InboundMessage, failure: FailureRecord, delay_seconds: float) -> None:
        self._adapter.retry(self._here(message), failure, delay_seconds)

    def dead_letter(self, message: InboundMessage, failure: FailureRecord) -> None:
        self._adapter.dead_letter(self._here(message), failure)

    def retried(self, timeout: float = 30) -> list[FailureRecord]:
        """The failure records of every message retried so far, back from their delay."""
        now = datetime.now(UTC)
        sentinel = FailureRecord("sentinel", 1, now, now, SENTINEL_ERROR)
        event = Lead(tenant_id=uuid.uuid4(), name="sentinel").created_event()
        message = InboundMessage(queue=self.queue, body=event.to_json(), headers={},
                                 message_id=str(event.id), redelivered=False, event=event)  # fmt: skip
        self._adapter.retry(message, sentinel, self._longest_delay)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for record in self._drain(self.queue):
                if record.last_error == SENTINEL_ERROR:
                    return list(self._returned)
                self._returned.append(record)
            time.sleep(0.05)
        raise AssertionError(f"the sentinel did not come back to {self.queue} in {timeout} s")

    def dead(self) -> list[FailureRecord]:
        """The failure records of every dead-lettered message (confirmed: already there)."""
        self._dead.extend(self._drain(f"{self.queue}.dlq"))
        return list(self._dead)

    def close(self) -> None:
        self._connection.close()

    def _here(self, message: InboundMessage) -> InboundMessage:
        return dataclasses.replace(message, queue=self.queue)

    def _drain(self, queue: str) -> list[FailureRecord]:
        records: list[FailureRecord] = []
        while True:
            method, properties, _ = self._channel.basic_get(queue, auto_ack=True)
            if method is None:
                return records
            headers: dict[str, Any] = properties.headers or {}
            records.append(FailureRecord.from_headers(headers))
