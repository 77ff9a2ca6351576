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
