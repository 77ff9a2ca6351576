"""Webhook endpoints and the delivery ledger on real PostgreSQL: row-level security, the
(endpoint, event) uniqueness, sealed secrets, audit rows without them, and the worker's
effect inside the real consumer framework (retry skips delivered endpoints, the last attempt
marks the row failed)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pg8000.exceptions
import pg8000.native
import pytest
from crm.adapters.postgres.connection import ConnectionPool
from crm.adapters.postgres.unit_of_work import PostgresDatabase
from crm.adapters.secrets.field_cipher import FieldCipher
from crm.adapters.transient import is_transient
from crm.domain.audit import RequestMeta
from crm.domain.concurrency import Precondition
from crm.domain.errors import NotFound, PreconditionFailed, ValidationFailed
from crm.domain.events import CloudEvent
from crm.domain.leads import Lead
from crm.domain.messaging import FailureRecord, InboundMessage, RetrySchedule
from crm.domain.pagination import PageRequest
from crm.domain.tenants import Principal
from crm.domain.webhooks import AttemptResult, TargetPolicy, WebhookEndpoint
from crm.services.consuming import Consumer, consume_batch
from crm.services.request_context import RequestContext
from crm.services.webhook_delivery import WebhookDeliveriesFailed, deliver_event, final_attempts
from crm.services.webhooks import (
    EndpointChanges,
    NewEndpoint,
    WebhookSettings,
    create_endpoint,
    delete_endpoint,
    get_endpoint,
    list_deliveries,
    list_endpoints,
    rotate_secret,
    update_endpoint,
)

from tests.conftest import make_tenant
from tests.integration.broker_failures import BrokerFailedMessages

pytestmark = pytest.mark.integration

CIPHER = FieldCipher(bytes(range(32)))
SETTINGS = WebhookSettings(
    cipher=CIPHER,
    policy=TargetPolicy(allow_http=True, allow_private=False),
    resolve=lambda host, port: {"hooks.example": ["93.184.216.34"]}.get(host, ["10.0.0.9"]),
)
URL = "https://hooks.example/in"


def _context(tenant_id: uuid.UUID, user_id: uuid.UUID) -> RequestContext:
    return RequestContext(
        principal=Principal(tenant_id=tenant_id, user_id=user_id, role="owner"),
        meta=RequestMeta(ip="127.0.0.1", request_id="req-1"),
    )


def _create(db: PostgresDatabase, context: RequestContext, **changes: Any) -> dict[str, Any]:
    command = NewEndpoint(**{"url": URL, "event_types": ["crm.lead.created"], **changes})
    body, replayed = create_endpoint(
        command, context, unit_of_work=db.unit_of_work, settings=SETTINGS, request={"n": 1}
    )
    assert not replayed
    return body


def test_the_tables_force_row_level_security(admin_conn: pg8000.native.Connection) -> None:
    rows = admin_conn.run(
        "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class"
        " WHERE relname IN ('webhook_endpoints', 'webhook_deliveries') AND relkind = 'r'"
    )
    assert sorted(rows) == [
        ["webhook_deliveries", True, True],
        ["webhook_endpoints", True, True],
    ]


def test_another_tenants_endpoint_is_invisible(db: PostgresDatabase) -> None:
    (tenant_a, owner_a), (tenant_b, owner_b) = make_tenant(db, "wh-a"), make_tenant(db, "wh-b")
    mine = _create(db, _context(tenant_a.id, owner_a.id))
    other = _context(tenant_b.id, owner_b.id)
    endpoint_id = uuid.UUID(mine["id"])
    with pytest.raises(NotFound):
        get_endpoint(endpoint_id, other, unit_of_work=db.unit_of_work)
    with pytest.raises(NotFound):
        update_endpoint(endpoint_id, EndpointChanges(active=False), other,
                        unit_of_work=db.unit_of_work, settings=SETTINGS)  # fmt: skip
    with pytest.raises(NotFound):
        rotate_secret(endpoint_id, other, unit_of_work=db.unit_of_work, settings=SETTINGS)
    with pytest.raises(NotFound):
        delete_endpoint(endpoint_id, other, unit_of_work=db.unit_of_work)
    with pytest.raises(NotFound):
        list_deliveries(endpoint_id, None, other, PageRequest(), unit_of_work=db.unit_of_work)
    assert list_endpoints(other, PageRequest(), unit_of_work=db.unit_of_work).items == []
    with db.unit_of_work(tenant_b.id) as uow:
        assert uow.webhook_endpoints.active() == []
    # ... and it is still there for its own tenant, unchanged.
    assert get_endpoint(endpoint_id, _context(tenant_a.id, owner_a.id),
                        unit_of_work=db.unit_of_work)["active"] is True  # fmt: skip


def test_a_row_for_another_tenant_cannot_be_written(db: PostgresDatabase) -> None:
    tenant_a, _ = make_tenant(db, "wh-w")
    tenant_b, _ = make_tenant(db, "wh-w")
    endpoint = WebhookEndpoint(tenant_id=tenant_b.id, url=URL, event_types=("crm.*",),
                               secret_encrypted="x")  # fmt: skip
    with pytest.raises(pg8000.exceptions.DatabaseError), db.unit_of_work(tenant_a.id) as uow:
        uow.webhook_endpoints.add(endpoint)


def test_secret_is_sealed_and_never_audited(
    db: PostgresDatabase, admin_conn: pg8000.native.Connection
) -> None:
    tenant, owner = make_tenant(db, "wh-s")
    context = _context(tenant.id, owner.id)
    created = _create(db, context, description="CRM sync")
    secret = created["secret"]
    assert secret.startswith("whsec_")
    rotated = rotate_secret(uuid.UUID(created["id"]), context, unit_of_work=db.unit_of_work,
                            settings=SETTINGS)  # fmt: skip
    assert rotated["secret"] != secret and rotated["version"] == 2
    [[sealed]] = admin_conn.run(
        "SELECT secret_encrypted FROM webhook_endpoints WHERE id = :id", id=uuid.UUID(created["id"])
    )
    assert rotated["secret"] not in sealed and secret not in sealed
    assert CIPHER.decrypt(sealed, context=f"webhook_endpoint:{created['id']}") == rotated["secret"]
    audit = admin_conn.run(
        "SELECT action, CAST(changes AS text) FROM audit_log WHERE tenant_id = :t"
        " AND entity_type = 'webhook_endpoint' ORDER BY id",
        t=tenant.id,
    )
    assert [row[0] for row in audit] == ["webhook.created", "webhook.secret_rotated"]
    for _, changes in audit:
        assert "whsec_" not in changes and sealed not in changes


def test_idempotent_create_replays_without_storing_the_secret(
    db: PostgresDatabase, admin_conn: pg8000.native.Connection
) -> None:
    tenant, owner = make_tenant(db, "wh-i")
    context = _context(tenant.id, owner.id)
    command = NewEndpoint(url=URL, event_types=["crm.deal.*"])
    first, replayed = create_endpoint(command, context, unit_of_work=db.unit_of_work,
                                      settings=SETTINGS, request={"a": 1}, idempotency_key="k1")  # fmt: skip
    again, replayed_again = create_endpoint(command, context, unit_of_work=db.unit_of_work,
                                            settings=SETTINGS, request={"a": 1}, idempotency_key="k1")  # fmt: skip
    assert (replayed, replayed_again) == (False, True)
    assert again == first
    [[count]] = admin_conn.run("SELECT count(*) FROM webhook_endpoints WHERE tenant_id = :t",
                               t=tenant.id)  # fmt: skip
    assert count == 1
    stored = admin_conn.run(
        "SELECT CAST(response AS text) FROM idempotency_keys WHERE tenant_id = :t",
        t=tenant.id,
    )
    assert stored and all("whsec_" not in row[0] for row in stored)


def test_validation_and_if_match(db: PostgresDatabase) -> None:
    tenant, owner = make_tenant(db, "wh-v")
    context = _context(tenant.id, owner.id)
    with pytest.raises(ValidationFailed) as refused:
        _create(db, context, url="https://internal.example/x", event_types=["crm.nope.*"])
    assert {e["loc"][1] for e in refused.value.errors} == {"url", "event_types"}
    created = _create(db, context)
    endpoint_id = uuid.UUID(created["id"])
    changed = update_endpoint(endpoint_id, EndpointChanges(event_types=["crm.deal.*"]), context,
                              unit_of_work=db.unit_of_work, settings=SETTINGS,
                              precondition=Precondition.from_header('"1"'))  # fmt: skip
    assert changed["version"] == 2 and changed["event_types"] == ["crm.deal.*"]
    with pytest.raises(PreconditionFailed):
        update_endpoint(endpoint_id, EndpointChanges(active=False), context,
                        unit_of_work=db.unit_of_work, settings=SETTINGS,
                        precondition=Precondition.from_header('"1"'))  # fmt: skip
    with pytest.raises(PreconditionFailed):
        delete_endpoint(endpoint_id, context, unit_of_work=db.unit_of_work,
                        precondition=Precondition.from_header('"1"'))  # fmt: skip
    delete_endpoint(endpoint_id, context, unit_of_work=db.unit_of_work,
                    precondition=Precondition.from_header('"2"'))  # fmt: skip
    with pytest.raises(NotFound):
        get_endpoint(endpoint_id, context, unit_of_work=db.unit_of_work)


def test_one_delivery_row_per_endpoint_and_event(
    db: PostgresDatabase, admin_conn: pg8000.native.Connection
) -> None:
    tenant, owner = make_tenant(db, "wh-u")
    endpoint_id = uuid.UUID(_create(db, _context(tenant.id, owner.id))["id"])
    event_id, now = uuid.uuid4(), datetime.now(UTC)
    with db.unit_of_work(tenant.id) as uow:
        first = uow.webhook_deliveries.open(endpoint_id, event_id, "crm.lead.created", now)
        second = uow.webhook_deliveries.open(endpoint_id, event_id, "crm.lead.created", now)
        uow.commit()
    assert first.id == second.id and first.status == "pending" and first.attempts == 0
    with pytest.raises(pg8000.exceptions.DatabaseError, match="23505"):
        admin_conn.run(
            "INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_id, event_type)"
            " VALUES (:id, :t, :e, :ev, 'crm.lead.created')",
            id=uuid.uuid4(), t=tenant.id, e=endpoint_id, ev=event_id,
        )  # fmt: skip


class ScriptedTransport:
    """Answers each URL from a script of status codes (the last one repeats)."""

    def __init__(self, script: dict[str, list[int]]) -> None:
        self.script = script
        self.calls: list[tuple[str, dict[str, str]]] = []

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> AttemptResult:
        self.calls.append((url, headers))
        codes = self.script[url]
        code = codes.pop(0) if len(codes) > 1 else codes[0]
        return AttemptResult(code, None if 200 <= code < 300 else f"answered HTTP {code}")


def _message(event: CloudEvent, attempts: int = 0) -> InboundMessage:
    now = datetime.now(UTC)
    headers = FailureRecord("webhook", attempts, now, now, "x").to_headers() if attempts else {}
    return InboundMessage(queue="q.webhook", body=event.to_json(), headers=headers,
                          message_id=str(event.id), redelivered=False, event=event)  # fmt: skip


def test_the_worker_retries_only_failed_endpoints_and_marks_the_last_attempt(
    db: PostgresDatabase,
    admin_conn: pg8000.native.Connection,
    broker_failures: BrokerFailedMessages,
) -> None:
    tenant, owner = make_tenant(db, "wh-d")
    context = _context(tenant.id, owner.id)
    good = _create(db, context, url="https://hooks.example/good")
    bad = _create(db, context, url="https://hooks.example/bad", event_types=["crm.lead.*"])
    _create(db, context, url="https://hooks.example/deals", event_types=["crm.deal.*"])
    _create(db, context, url="https://hooks.example/off", active=False)
    transport = ScriptedTransport({"https://hooks.example/good": [204],
                                   "https://hooks.example/bad": [500]})  # fmt: skip
    failures = broker_failures
    consumer = Consumer(name="webhook", unit_of_work=db.unit_of_work, failures=failures,
                        schedule=RetrySchedule((1, 2)), is_transient=is_transient)  # fmt: skip
    event = Lead(tenant_id=tenant.id, name="Ada").created_event()

    def run(attempts: int) -> None:
        messages = [_message(event, attempts)]
        last = final_attempts(messages, consumer)

        def handle(e: CloudEvent, uow: Any) -> None:
            deliver_event(e, uow, unit_of_work=db.unit_of_work, cipher=CIPHER,
                          transport=transport, final_attempt=e.id in last)  # fmt: skip

        consume_batch(messages, consumer, handle)

    run(0)
    assert [url for url, _ in transport.calls] == [good["url"], bad["url"]]
    assert len(failures.retried()) == 1 and failures.dead() == []  # not taken for an outage
    run(1)  # the retry: only the failed endpoint is called again
    run(2)  # the last attempt of a (1, 2) schedule
    assert [url for url, _ in transport.calls] == [good["url"]] + [bad["url"]] * 3
    assert len(failures.dead()) == 1
    bad_ids = {h["webhook-id"] for url, h in transport.calls if url == bad["url"]}
    assert len(bad_ids) == 1  # stable across retries
    rows = admin_conn.run(
        "SELECT endpoint_id, status, attempts, last_status_code, last_error, delivered_at"
        " FROM webhook_deliveries WHERE tenant_id = :t",
        t=tenant.id,
    )
    by_endpoint = {str(row[0]): tuple(row[1:]) for row in rows}
    assert set(by_endpoint) == {good["id"], bad["id"]}
    assert by_endpoint[good["id"]][:3] == ("delivered", 1, 204)
    assert by_endpoint[bad["id"]][:4] == ("failed", 3, 500, "answered HTTP 500")
    assert by_endpoint[bad["id"]][4] is None
    [[ledger]] = admin_conn.run(
        "SELECT count(*) FROM processed_events WHERE consumer = 'webhook' AND event_id = :e",
        e=event.id,
    )
    assert ledger == 0  # never handled: it is a dead letter now

    # A redrive republishes it as a first delivery: only the failed endpoint is called, with
    # the same webhook-id, and its row becomes delivered.
    transport.script[bad["url"]] = [200]
    run(0)
    assert [url for url, _ in transport.calls[4:]] == [bad["url"]]
    assert transport.calls[4][1]["webhook-id"] in bad_ids
    [[status, attempts, delivered_at]] = admin_conn.run(
        "SELECT status, attempts, delivered_at FROM webhook_deliveries WHERE endpoint_id = :e",
        e=uuid.UUID(bad["id"]),
    )
    assert (status, attempts) == ("delivered", 4) and delivered_at is not None


def test_a_delivered_event_is_not_sent_again(
    db: PostgresDatabase, broker_failures: BrokerFailedMessages
) -> None:
    tenant, owner = make_tenant(db, "wh-o")
    context = _context(tenant.id, owner.id)
    endpoint = _create(db, context)
    transport = ScriptedTransport({URL: [200]})
    consumer = Consumer(name="webhook", unit_of_work=db.unit_of_work,
                        failures=broker_failures, schedule=RetrySchedule((1,)),
                        is_transient=is_transient)  # fmt: skip
    event = Lead(tenant_id=tenant.id, name="Grace").created_event()

    def handle(e: CloudEvent, uow: Any) -> None:
        deliver_event(e, uow, unit_of_work=db.unit_of_work, cipher=CIPHER, transport=transport)

    first = consume_batch([_message(event), _message(event)], consumer, handle)
    second = consume_batch([_message(event)], consumer, handle)
    assert (first.handled, first.duplicates, second.duplicates) == (1, 1, 1)
    assert len(transport.calls) == 1
    # ... and even without the ledger (a crash after the delivery), the row says delivered.
    with db.unit_of_work(tenant.id) as uow:
        report = deliver_event(event, uow, unit_of_work=db.unit_of_work, cipher=CIPHER,
                               transport=transport)  # fmt: skip
    assert (report.delivered, report.skipped) == (0, 1) and len(transport.calls) == 1
    page = list_deliveries(uuid.UUID(endpoint["id"]), "delivered", context, PageRequest(),
                           unit_of_work=db.unit_of_work)  # fmt: skip
    assert [(d.event_id, d.attempts) for d in page.items] == [(event.id, 1)]
    assert list_deliveries(uuid.UUID(endpoint["id"]), "failed", context, PageRequest(),
                           unit_of_work=db.unit_of_work).items == []  # fmt: skip


def test_the_failure_is_not_taken_for_an_outage() -> None:
    assert not is_transient(WebhookDeliveriesFailed("endpoint x: answered HTTP 500"))


def test_a_database_outage_between_attempts_fails_the_batch_without_spending_an_attempt(
    db: PostgresDatabase,
    admin_conn: pg8000.native.Connection,
    broker_failures: BrokerFailedMessages,
) -> None:
    """The endpoints are read, but the delivery ledger cannot be written: that is an outage
    (the whole batch is redelivered later), not a failure of the event; nothing was sent."""
    tenant, owner = make_tenant(db, "wh-x")
    _create(db, _context(tenant.id, owner.id))
    dead_db = PostgresDatabase(ConnectionPool("postgresql://crm_app:crm_app@127.0.0.1:1/crm", 1))
    transport = ScriptedTransport({URL: [204]})
    failures = broker_failures
    consumer = Consumer(name="webhook", unit_of_work=db.unit_of_work, failures=failures,
                        schedule=RetrySchedule((1,)), is_transient=is_transient)  # fmt: skip
    event = Lead(tenant_id=tenant.id, name="Outage").created_event()

    def handle(e: CloudEvent, uow: Any) -> None:
        deliver_event(e, uow, unit_of_work=dead_db.unit_of_work, cipher=CIPHER,
                      transport=transport)  # fmt: skip

    with pytest.raises(Exception) as raised:
        consume_batch([_message(event)], consumer, handle)
    assert is_transient(raised.value)
    assert failures.retried() == [] and failures.dead() == [] and transport.calls == []
    [[ledger]] = admin_conn.run(
        "SELECT count(*) FROM processed_events WHERE consumer = 'webhook' AND event_id = :e",
        e=event.id,
    )
    assert ledger == 0  # redelivered later, handled then
