"""Outbox relay throughput vs raw pika publish-with-confirms: same broker, same run.

The relay: SELECT 200 unpublished outbox rows FOR UPDATE SKIP LOCKED, parse the CloudEvents,
publish each with confirms (mandatory, persistent) to crm.events, UPDATE published_at, COMMIT,
until the outbox is drained. The baseline: one pika channel in confirm mode publishing the
same envelopes, with the same properties, to the same exchange (so the same fan-out to the
same five quorum queues), one confirm at a time. Nothing consumes the queues; they are purged
between phases.

Runs on its own PostgreSQL and RabbitMQ (bench/backbone_servers.py), started and stopped here.
Run: .venv/bin/python bench/bench_relay.py [N]
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers/core")]

import pika  # noqa: E402
from crm.adapters.postgres.connection import ConnectionPool, connect  # noqa: E402
from crm.adapters.postgres.migrations import run_migrations  # noqa: E402
from crm.adapters.postgres.relay_store import PostgresOutboxRelayStore  # noqa: E402
from crm.adapters.postgres.unit_of_work import PostgresDatabase  # noqa: E402
from crm.adapters.rabbitmq.publisher import RabbitMqPublisher, event_properties  # noqa: E402
from crm.adapters.rabbitmq.topology import (  # noqa: E402
    EVENTS_EXCHANGE,
    declare_topology,
    load_topology,
)
from crm.domain.leads import Lead  # noqa: E402
from crm.domain.tenants import Tenant  # noqa: E402
from crm.services.relay import relay_outbox  # noqa: E402

from bench.backbone_servers import backbone_servers  # noqa: E402
from bench.smoke import scaled  # noqa: E402

BATCH = 200
ROUNDS = scaled(3, smoke=1)


def write_unpublished(db: PostgresDatabase, tenant_id: uuid.UUID, n: int) -> None:
    """n leads with their events, committed 100 per transaction, never published."""
    for start in range(0, n, 100):
        with db.unit_of_work(tenant_id) as uow:
            for i in range(start, min(n, start + 100)):
                lead = Lead(tenant_id=tenant_id, name=f"Relay {i}", source="bench")
                uow.leads.add(lead)
                uow.add_event(lead.created_event())
            uow.commit()


def unpublished_envelopes(admin_url: str, tenant_id: uuid.UUID) -> list[dict[str, object]]:
    conn = connect(admin_url)
    try:
        rows = conn.run(
            "SELECT envelope FROM outbox WHERE tenant_id = :t AND published_at IS NULL"
            " ORDER BY created_at",
            t=tenant_id,
        )
    finally:
        conn.close()
    return [row[0] for row in rows]


def raw_pika(amqp_url: str, envelopes: list[dict[str, object]]) -> float:
    bodies = [
        (
            str(e["type"]),
            json.dumps(e, separators=(",", ":")).encode(),
            event_properties(str(e["id"]), str(e["type"]), str(e["tenantid"])),
        )
        for e in envelopes
    ]
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    channel.confirm_delivery()
    started = time.perf_counter()
    for routing_key, body, properties in bodies:
        channel.basic_publish(EVENTS_EXCHANGE, routing_key, body, properties, mandatory=True)
    elapsed = time.perf_counter() - started
    connection.close()
    return elapsed


def purge(amqp_url: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    for queue in load_topology()["queues"]:
        channel.queue_purge(queue["name"])
    connection.close()


def relay(relay_url: str, amqp_url: str, n: int) -> float:
    store = PostgresOutboxRelayStore(ConnectionPool(relay_url, 1))
    publisher = RabbitMqPublisher(amqp_url)
    started = time.perf_counter()
    published = relay_outbox(
        store, publisher, older_than_seconds=0, batch_size=BATCH, max_batches=n // BATCH + 2
    )
    elapsed = time.perf_counter() - started
    publisher.close()
    assert published == n, f"relayed {published} of {n}"
    return elapsed


def main(n: int) -> None:
    supervisor, endpoints = backbone_servers()
    try:
        migrated = run_migrations(endpoints.admin_database_url)
        declare_topology(endpoints.amqp_url)
        # Anything left unpublished by an earlier, interrupted run is relayed out of the way.
        relay_outbox(
            PostgresOutboxRelayStore(ConnectionPool(migrated.relay_url, 1)),
            RabbitMqPublisher(endpoints.amqp_url),
            older_than_seconds=0,
            max_batches=10_000,
        )
        db = PostgresDatabase(ConnectionPool(migrated.app_url, 1))
        tenant = Tenant(name="Relay bench", slug=f"relay-{uuid.uuid4().hex[:8]}")
        with db.unit_of_work(tenant.id) as uow:
            uow.tenants.add(tenant)
            uow.commit()
        write_unpublished(db, tenant.id, 200)  # warm both paths
        raw_pika(endpoints.amqp_url, unpublished_envelopes(endpoints.admin_database_url, tenant.id))
        relay(migrated.relay_url, endpoints.amqp_url, 200)
        purge(endpoints.amqp_url)

        # Alternating rounds, best of each: the machine's load moves the broker's confirm
        # rate more than anything measured here.
        baselines, relays = [], []
        for _ in range(ROUNDS):
            write_unpublished(db, tenant.id, n)
            envelopes = unpublished_envelopes(endpoints.admin_database_url, tenant.id)
            baselines.append(raw_pika(endpoints.amqp_url, envelopes))
            purge(endpoints.amqp_url)
            relays.append(relay(migrated.relay_url, endpoints.amqp_url, n))
            purge(endpoints.amqp_url)
        baseline, relayed = min(baselines), min(relays)
    finally:
        supervisor.stop()
    print(f"raw pika publish with confirms x{n} (best of {ROUNDS}): {n / baseline:,.0f} events/s")
    print(f"outbox relay (batches of {BATCH}) x{n} (best of {ROUNDS}): {n / relayed:,.0f} events/s")
    print(f"ratio relay / raw pika: {baseline / relayed:.2f} (1.00 = the broker's confirm rate)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else scaled(5000, smoke=400))
