"""Lambda's Amazon MQ (RabbitMQ) event source mapping, against a real RabbitMQ.

For every queue of every ``MQ`` event source, a thread with its own connection consumes the
queue (prefetch = BatchSize), gathers up to BatchSize messages or until the batching window
(``MaximumBatchingWindowInSeconds``, else 200 ms) has passed since the first one, and invokes
the function with an ``aws:rmq`` event shaped as Lambda's. A batch is acked when the handler
returns and nacked with requeue when it raises (after a backoff that grows with consecutive
failures), so the messages come back with ``redelivered: true``, as with Lambda.

Queues are declared by the application's topology step; a queue that does not exist yet is
retried, and so is a broker that went away.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

from local.environment import ACCOUNT_ID, REGION
from local.template import MqSource

log = logging.getLogger(__name__)

DEFAULT_BATCHING_WINDOW_SECONDS = 0.2
POLL_SECONDS = 0.05

Invoke = Callable[[str, Any], Any]


def broker_arn(broker: Any) -> str:
    """A stable fake ARN for the ``Broker`` of an MQ event source (``!GetAtt X.Arn``)."""
    name = "broker"
    if isinstance(broker, dict) and "Fn::GetAtt" in broker:
        name = str(broker["Fn::GetAtt"][0])
    elif isinstance(broker, str) and broker.startswith("arn:"):
        return broker
    return f"arn:aws:mq:{REGION}:{ACCOUNT_ID}:broker:{name}:b-local"


# ------------------------------------------------------------------ the aws:rmq event


@dataclass(frozen=True)
class Delivery:
    delivery_tag: int
    redelivered: bool
    properties: pika.BasicProperties
    body: bytes


def _java_medium_datetime(epoch_seconds: int) -> str:
    """Formats like Java's MEDIUM date-time, as Lambda does: ``Jan 1, 1970, 12:33:41 AM``."""
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    hour = moment.hour % 12 or 12
    meridiem = "AM" if moment.hour < 12 else "PM"
    return f"{moment:%b} {moment.day}, {moment.year}, {hour}:{moment:%M:%S} {meridiem}"


def _header_value(value: Any) -> Any:
    """AMQP table values as Lambda serialises them: strings become ``{"bytes": [...]}``."""
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, str):
        return {"bytes": list(value.encode("utf-8"))}
    if isinstance(value, bytes | bytearray):
        return {"bytes": list(value)}
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return _java_medium_datetime(int(value.timestamp()))
    if isinstance(value, dict):
        return {str(k): _header_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_header_value(v) for v in value]
    return str(value)


def rmq_message(delivery: Delivery) -> dict[str, Any]:
    props = delivery.properties
    timestamp = props.timestamp
    return {
        "basicProperties": {
            "contentType": props.content_type,
            "contentEncoding": props.content_encoding,
            "headers": _header_value(props.headers) if props.headers is not None else None,
            "deliveryMode": props.delivery_mode,
            "priority": props.priority,
            "correlationId": props.correlation_id,
            "replyTo": props.reply_to,
            "expiration": props.expiration,
            "messageId": props.message_id,
            "timestamp": _java_medium_datetime(timestamp) if timestamp is not None else None,
            "type": props.type,
            "userId": props.user_id,
            "appId": props.app_id,
            "clusterId": props.cluster_id,
            "bodySize": len(delivery.body),
        },
        "redelivered": delivery.redelivered,
        "data": base64.b64encode(delivery.body).decode("ascii"),
    }


def build_rmq_event(
    queue: str, virtual_host: str, deliveries: Iterable[Delivery], event_source_arn: str
) -> dict[str, Any]:
    """The event Lambda's RabbitMQ event source mapping sends for one batch of one queue."""
    return {
        "eventSource": "aws:rmq",
        "eventSourceArn": event_source_arn,
        "rmqMessagesByQueue": {
            f"{queue}::{virtual_host}": [rmq_message(delivery) for delivery in deliveries]
        },
    }


# ------------------------------------------------------------------ the poller


class QueuePoller:
    """Consumes one queue for one function until stopped, reconnecting when needed."""

    def __init__(
        self,
        amqp_url: str,
        queue: str,
        source: MqSource,
        invoke: Invoke,
        *,
        failure_backoff: Callable[[int], float] | None = None,
    ) -> None:
        self._parameters = pika.URLParameters(amqp_url)
        self.queue = queue
        self.source = source
        self._invoke = invoke
        self._arn = broker_arn(source.broker)
        self._window = source.batching_window_seconds or DEFAULT_BATCHING_WINDOW_SECONDS
        self._failure_backoff = failure_backoff or _default_failure_backoff
        self._stopping = threading.Event()
        self._consuming = False
        self._thread = threading.Thread(
            target=self._run, name=f"mq-{source.function_id}-{queue}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        self._stopping.set()

    def stop(self, timeout: float = 15.0) -> None:
        self._stopping.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("poller %s did not stop within %.0f s", self._thread.name, timeout)

    def _run(self) -> None:
        failed_attempts = 0
        while not self._stopping.is_set():
            connection: BlockingConnection | None = None
            self._consuming = False
            try:
                connection = BlockingConnection(self._parameters)
                channel = connection.channel()
                channel.basic_qos(prefetch_count=self.source.batch_size)
                self._consume(channel)
            except pika.exceptions.ChannelClosedByBroker as error:
                if error.reply_code != 404:
                    log.warning("channel on %s closed by broker: %s", self.queue, error)
                elif failed_attempts == 0:
                    log.info("queue %s does not exist yet; retrying", self.queue)
            except pika.exceptions.AMQPError as error:
                level = logging.WARNING if failed_attempts == 0 else logging.DEBUG
                log.log(level, "RabbitMQ unreachable for %s (%r); retrying", self.queue, error)
            finally:
                _close_quietly(connection)
            failed_attempts = 1 if self._consuming else failed_attempts + 1
            self._stopping.wait(min(0.1 * 2**failed_attempts, 2.0))

    def _consume(self, channel: BlockingChannel) -> None:
        batch: list[Delivery] = []
        deadline = 0.0
        failures = 0
        for method, properties, body in channel.consume(
            self.queue, inactivity_timeout=POLL_SECONDS
        ):
            self._consuming = True
            if method is not None and properties is not None and body is not None:
                if not batch:
                    deadline = time.monotonic() + self._window
                batch.append(Delivery(method.delivery_tag, method.redelivered, properties, body))
            if self._stopping.is_set():
                break
            if batch and (len(batch) >= self.source.batch_size or time.monotonic() >= deadline):
                failures = self._process(channel, batch, failures)
                batch = []
        # Closing the connection returns unacknowledged messages to the queue.
        channel.cancel()

    def _process(self, channel: BlockingChannel, batch: list[Delivery], failures: int) -> int:
        virtual_host = self._parameters.virtual_host
        event = build_rmq_event(self.queue, virtual_host, batch, self._arn)
        last_tag = batch[-1].delivery_tag
        try:
            self._invoke(self.source.function_id, event)
        except Exception:
            failures += 1
            delay = self._failure_backoff(failures)
            log.exception(
                "%s failed on a batch of %d from %s; requeued in %.1f s",
                self.source.function_id,
                len(batch),
                self.queue,
                delay,
            )
            self._stopping.wait(delay)
            channel.basic_nack(delivery_tag=last_tag, multiple=True, requeue=True)
            return failures
        channel.basic_ack(delivery_tag=last_tag, multiple=True)
        return 0


def _default_failure_backoff(consecutive_failures: int) -> float:
    return float(min(0.5 * 2 ** (consecutive_failures - 1), 10.0))


def _close_quietly(connection: BlockingConnection | None) -> None:
    if connection is None or connection.is_closed:
        return
    try:
        connection.close()
    except pika.exceptions.AMQPError:
        log.debug("error while closing a RabbitMQ connection", exc_info=True)


class MqEventSources:
    """All pollers of the template's MQ event sources."""

    def __init__(
        self,
        amqp_url: str,
        sources: Iterable[MqSource],
        invoke: Invoke,
        *,
        failure_backoff: Callable[[int], float] | None = None,
    ) -> None:
        self.pollers = [
            QueuePoller(amqp_url, queue, source, invoke, failure_backoff=failure_backoff)
            for source in sources
            if source.enabled
            for queue in source.queues
        ]

    def start(self) -> None:
        for poller in self.pollers:
            poller.start()

    def stop(self) -> None:
        for poller in self.pollers:
            poller.request_stop()
        for poller in self.pollers:
            poller.stop()
