"""Declares the exchanges and queues of infra/mq/topology.json (idempotent)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel

DEFAULT_TOPOLOGY = Path(__file__).resolve().parents[5] / "infra" / "mq" / "topology.json"
EVENTS_EXCHANGE = "crm.events"
DEAD_LETTER_EXCHANGE = "crm.dlx"


def dead_letter_queue(queue: str) -> str:
    return f"{queue}.dlq"


def declare_on(channel: BlockingChannel, topology: dict[str, Any]) -> None:
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


def declare_topology(amqp_url: str, path: Path = DEFAULT_TOPOLOGY) -> None:
    topology = json.loads(path.read_text())
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        declare_on(connection.channel(), topology)
    finally:
        connection.close()
