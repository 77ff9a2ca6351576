"""Declares the exchanges and queues of infra/mq/topology.json (idempotent).

Per consumer queue q.<name>: a quorum queue with a delivery limit whose dead letters go
through crm.dlx to q.<name>.dlq (the broker's own path, for a message whose whole batch keeps
failing or whose consumer keeps crashing), bound to crm.events by its patterns.

Per retry delay d (10s, 1m, ...): a fanout exchange crm.retry.<d> feeding the quorum queue
q.retry.<d>, whose messages expire after d and are dead-lettered to the default exchange with
their own routing key, which the consumer framework sets to the queue they came from; so they
land back in that queue. At-least-once dead-lettering: an expired message is removed only once
its queue has confirmed it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel

from crm.domain.messaging import retry_exchange_of, retry_queue_of

DEFAULT_TOPOLOGY = Path(__file__).resolve().parents[5] / "infra" / "mq" / "topology.json"
EVENTS_EXCHANGE = "crm.events"
DEAD_LETTER_EXCHANGE = "crm.dlx"
DEFAULT_EXCHANGE = ""


def dead_letter_queue(queue: str) -> str:
    return f"{queue}.dlq"


def load_topology(path: Path = DEFAULT_TOPOLOGY) -> dict[str, Any]:
    topology: dict[str, Any] = json.loads(path.read_text())
    return topology


def declare_on(
    channel: BlockingChannel,
    topology: dict[str, Any],
    retry_delays_seconds: Sequence[float] | None = None,
) -> None:
    for exchange in topology["exchanges"]:
        channel.exchange_declare(exchange["name"], exchange_type=exchange["type"], durable=True)
    for queue in topology["queues"]:
        name = queue["name"]
        channel.queue_declare(
            dead_letter_queue(name), durable=True, arguments={"x-queue-type": "quorum"}
        )
        channel.queue_bind(dead_letter_queue(name), DEAD_LETTER_EXCHANGE, routing_key=name)
        channel.queue_declare(
            name,
            durable=True,
            arguments={
                "x-queue-type": "quorum",
                "x-delivery-limit": queue["delivery_limit"],
                "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
                "x-dead-letter-routing-key": name,
            },
        )
        for pattern in queue["bindings"]:
            channel.queue_bind(name, EVENTS_EXCHANGE, routing_key=pattern)
    delays = (
        retry_delays_seconds
        if retry_delays_seconds is not None
        else topology["retry_delays_seconds"]
    )
    for delay in delays:
        declare_retry_delay(channel, delay)


def declare_retry_delay(channel: BlockingChannel, delay_seconds: float) -> None:
    exchange, queue = retry_exchange_of(delay_seconds), retry_queue_of(delay_seconds)
    channel.exchange_declare(exchange, exchange_type="fanout", durable=True)
    channel.queue_declare(
        queue,
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-message-ttl": round(delay_seconds * 1000),
            "x-dead-letter-exchange": DEFAULT_EXCHANGE,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",  # required by at-least-once dead-lettering
        },
    )
    channel.queue_bind(queue, exchange)


def declare_topology(
    amqp_url: str,
    path: Path = DEFAULT_TOPOLOGY,
    *,
    retry_delays_seconds: Sequence[float] | None = None,
) -> None:
    """Declare everything in `path`; `retry_delays_seconds` replaces the file's schedule
    (tests use short delays)."""
    topology = load_topology(path)
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        declare_on(connection.channel(), topology, retry_delays_seconds)
    finally:
        connection.close()
