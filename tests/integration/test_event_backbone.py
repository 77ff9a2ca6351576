"""Outbox -> RabbitMQ on the real broker: post-commit publish, and the relay's sweep of what
the post-commit publish could not deliver."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pika
import pytest
from crm.adapters.postgres.connection import ConnectionPool
from crm.adapters.postgres.migrations import MigrationResult
from crm.adapters.postgres.relay_store import PostgresOutboxRelayStore
from crm.adapters.postgres.unit_of_work import PostgresDatabase
from crm.adapters.rabbitmq.publisher import RabbitMqPublisher
from crm.adapters.rabbitmq.topology import declare_topology
from crm.domain.leads import Lead
from crm.services.relay import relay_outbox

from local.services import Endpoints
from tests.conftest import make_tenant

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def topology(endpoints: Endpoints) -> None:
    declare_topology(endpoints.amqp_url)
    declare_topology(endpoints.amqp_url)  # idempotent


@pytest.fixture()
def tap(
    endpoints: Endpoints, topology: None
) -> Iterator[pika.adapters.blocking_connection.BlockingChannel]:
    """A private, exclusive queue bound to every lead event: what the broker routed."""
    connection = pika.BlockingConnection(pika.URLParameters(endpoints.amqp_url))
    channel = connection.channel()
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(queue, "crm.events", routing_key="crm.lead.#")
    channel.tap_queue = queue  # type: ignore[attr-defined]
    yield channel
    connection.close()


def _drain(channel) -> list[dict]:  # type: ignore[no-untyped-def]
    bodies = []
    while True:
        method, _, body = channel.basic_get(channel.tap_queue, auto_ack=True)
        if method is None:
            return bodies
        bodies.append(json.loads(body))


def _unpublished(admin_conn, event_id: uuid.UUID) -> bool:  # type: ignore[no-untyped-def]
    rows = admin_conn.run("SELECT published_at IS NULL FROM outbox WHERE id = :id", id=event_id)
    return bool(rows[0][0])


def test_committed_events_are_published_after_commit_and_marked(
    app_pool: ConnectionPool, endpoints: Endpoints, tap, admin_conn
) -> None:
    db = PostgresDatabase(app_pool, RabbitMqPublisher(endpoints.amqp_url))
    tenant, _ = make_tenant(db)
    lead = Lead(tenant_id=tenant.id, name="Ana")
    event = lead.created_event()
    with db.unit_of_work(tenant.id) as uow:
        uow.leads.add(lead)
        uow.add_event(event)
        uow.commit()
    assert [body["id"] for body in _drain(tap)] == [str(event.id)]
    assert not _unpublished(admin_conn, event.id)


def test_a_rolled_back_unit_of_work_publishes_nothing(
    app_pool: ConnectionPool, endpoints: Endpoints, tap, admin_conn
) -> None:
    db = PostgresDatabase(app_pool, RabbitMqPublisher(endpoints.amqp_url))
    tenant, _ = make_tenant(db)
    lead = Lead(tenant_id=tenant.id, name="Never")
    with db.unit_of_work(tenant.id) as uow:
        uow.leads.add(lead)
        uow.add_event(lead.created_event())
    assert _drain(tap) == []
    assert admin_conn.run("SELECT count(*) FROM leads WHERE id = :id", id=lead.id) == [[0]]


def test_broker_unreachable_at_commit_then_the_relay_publishes_exactly_the_missed_events(
    app_pool: ConnectionPool, migrated: MigrationResult, endpoints: Endpoints, tap, admin_conn
) -> None:
    # Given a broker that cannot be reached when the request commits
    dead_broker = RabbitMqPublisher("amqp://guest:guest@127.0.0.1:1/%2F")
    db = PostgresDatabase(app_pool, dead_broker)
    tenant, _ = make_tenant(db)
    lead = Lead(tenant_id=tenant.id, name="Ana")
    event = lead.created_event()
    with db.unit_of_work(tenant.id) as uow:
        uow.leads.add(lead)
        uow.add_event(event)
        uow.commit()
    # Then the change is committed and the event waits in the outbox
    assert admin_conn.run("SELECT count(*) FROM leads WHERE id = :id", id=lead.id) == [[1]]
    assert _unpublished(admin_conn, event.id)
    assert _drain(tap) == []

    # When the relay sweeps with a working broker
    store = PostgresOutboxRelayStore(ConnectionPool(migrated.relay_url, 1))
    relayed = relay_outbox(store, RabbitMqPublisher(endpoints.amqp_url), older_than_seconds=0)

    # Then the event is published once and marked; a second sweep has nothing to do
    assert relayed >= 1
    assert [body["id"] for body in _drain(tap) if body["id"] == str(event.id)] == [str(event.id)]
    assert not _unpublished(admin_conn, event.id)
    relay_outbox(store, RabbitMqPublisher(endpoints.amqp_url), older_than_seconds=0)
    assert [body for body in _drain(tap) if body["id"] == str(event.id)] == []


def test_relay_records_the_error_and_keeps_the_event_when_the_broker_is_down(
    app_pool: ConnectionPool, migrated: MigrationResult, admin_conn
) -> None:
    db = PostgresDatabase(app_pool)  # no post-commit publish at all
    tenant, _ = make_tenant(db)
    lead = Lead(tenant_id=tenant.id, name="Ana")
    event = lead.created_event()
    with db.unit_of_work(tenant.id) as uow:
        uow.leads.add(lead)
        uow.add_event(event)
        uow.commit()
    store = PostgresOutboxRelayStore(ConnectionPool(migrated.relay_url, 1))
    with pytest.raises(Exception):  # noqa: B017 - whatever pika raises, the row must survive
        relay_outbox(
            store, RabbitMqPublisher("amqp://guest:guest@127.0.0.1:1/%2F"), older_than_seconds=0
        )
    row = admin_conn.run(
        "SELECT published_at, attempts, last_error FROM outbox WHERE id = :id", id=event.id
    )
    assert row[0][0] is None and row[0][1] >= 1 and row[0][2]
    # the sweep's OutboxOldestUnpublishedAgeSeconds metric sees it waiting
    waited = admin_conn.run(
        "SELECT EXTRACT(EPOCH FROM now() - created_at) FROM outbox WHERE id = :id", id=event.id
    )[0][0]
    assert store.oldest_unpublished_age_seconds() >= float(waited) > 0


def test_events_of_one_aggregate_are_numbered_in_commit_order_and_published_with_it(
    app_pool: ConnectionPool, endpoints: Endpoints, tap, admin_conn
) -> None:
    db = PostgresDatabase(app_pool, RabbitMqPublisher(endpoints.amqp_url))
    tenant, _ = make_tenant(db)
    lead, other = Lead(tenant_id=tenant.id, name="Ana"), Lead(tenant_id=tenant.id, name="Bo")
    events = [lead.created_event(), lead.created_event(), other.created_event()]
    for event in events:
        with db.unit_of_work(tenant.id) as uow:
            if event is events[0]:
                uow.leads.add(lead)
            if event is events[2]:
                uow.leads.add(other)
            uow.add_event(event)
            uow.commit()
    stored = admin_conn.run(
        "SELECT id, aggregate, sequence, envelope->'aggregatesequence' FROM outbox"
        " WHERE id = ANY(CAST(:ids AS uuid[])) ORDER BY created_at",
        ids=[str(e.id) for e in events],
    )
    assert [(row[1], row[2], row[3]) for row in stored] == [
        (f"leads/{lead.id}", 1, 1), (f"leads/{lead.id}", 2, 2), (f"leads/{other.id}", 1, 1),
    ]  # fmt: skip
    mine = {str(e.id) for e in events}  # other suites may publish on the shared broker
    published = {b["id"]: b["aggregatesequence"] for b in _drain(tap) if b["id"] in mine}
    assert published == {str(events[0].id): 1, str(events[1].id): 2, str(events[2].id): 1}


def test_concurrent_writers_of_one_aggregate_get_distinct_consecutive_numbers(
    app_pool: ConnectionPool, admin_conn
) -> None:
    import threading

    db = PostgresDatabase(app_pool)
    tenant, _ = make_tenant(db)
    lead = Lead(tenant_id=tenant.id, name="Ana")
    with db.unit_of_work(tenant.id) as uow:
        uow.leads.add(lead)
        uow.commit()

    def write() -> None:
        for _ in range(10):
            with db.unit_of_work(tenant.id) as uow:
                uow.add_event(lead.created_event())
                uow.commit()

    threads = [threading.Thread(target=write) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows = admin_conn.run(
        "SELECT sequence FROM outbox WHERE aggregate = :a ORDER BY sequence", a=f"leads/{lead.id}"
    )
    assert [row[0] for row in rows] == list(range(1, 31))


def test_the_relay_prunes_published_rows_past_retention_and_never_unpublished_ones(
    app_pool: ConnectionPool, migrated: MigrationResult, admin_conn
) -> None:
    from crm.services.relay import prune_retained

    db = PostgresDatabase(app_pool)
    tenant, _ = make_tenant(db)
    events = [Lead(tenant_id=tenant.id, name=f"L{i}").created_event() for i in range(5)]
    with db.unit_of_work(tenant.id) as uow:
        for event in events:
            uow.add_event(event)
        for event in events[:2]:
            uow.processed_events.claim("analytics", event.id)
        uow.commit()
    old, recent, unpublished = events[:3], events[3:4], events[4:]
    admin_conn.run(
        "UPDATE outbox SET published_at = now() - interval '10 days'"
        " WHERE id = ANY(CAST(:ids AS uuid[]))",
        ids=[str(e.id) for e in old],
    )
    admin_conn.run("UPDATE outbox SET published_at = now() WHERE id = :id", id=recent[0].id)
    admin_conn.run(
        "UPDATE processed_events SET processed_at = now() - interval '30 days'"
        " WHERE event_id = :id",
        id=events[0].id,
    )
    store = PostgresOutboxRelayStore(ConnectionPool(migrated.relay_url, 1))
    pruned = prune_retained(
        store,
        outbox_retention_seconds=7 * 86400,
        processed_retention_seconds=14 * 86400,
        batch_size=2,  # bounded batches: two sweeps' worth in one call
    )
    assert pruned[0] >= 3 and pruned[1] >= 1
    left = admin_conn.run(
        "SELECT id FROM outbox WHERE id = ANY(CAST(:ids AS uuid[]))",
        ids=[str(e.id) for e in events],
    )
    assert {row[0] for row in left} == {recent[0].id, unpublished[0].id}
    ledger = admin_conn.run(
        "SELECT event_id FROM processed_events WHERE tenant_id = :t", t=tenant.id
    )
    assert [row[0] for row in ledger] == [events[1].id]
