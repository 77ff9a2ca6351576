"""The processed-events ledger and dead letters on real PostgreSQL: RLS, duplicates under
concurrency, the consumer framework's transaction, pagination and redrive locking."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pg8000.native
import pytest
from crm.adapters.postgres.connection import ConnectionPool, connect
from crm.adapters.postgres.migrations import MigrationResult
from crm.adapters.postgres.unit_of_work import PostgresDatabase, begin_for_tenant
from crm.adapters.transient import is_transient
from crm.domain.dead_letters import DeadLetter, DeadLetterStatus, RedriveSelection
from crm.domain.events import CloudEvent
from crm.domain.leads import Lead
from crm.domain.messaging import InboundMessage, RetrySchedule
from crm.domain.pagination import PageRequest
from crm.ports import UnitOfWork
from crm.services.consuming import Consumer, consume_batch

from tests.conftest import make_tenant
from tests.integration.broker_failures import BrokerFailedMessages

pytestmark = pytest.mark.integration

NEW_TABLES = ["aggregate_sequences", "processed_events", "dead_letters"]


def test_the_new_tables_force_row_level_security(admin_conn) -> None:
    rows = admin_conn.run(
        "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class"
        " WHERE relname = ANY(:names) AND relkind = 'r'",
        names=NEW_TABLES,
    )
    assert {name: (on, forced) for name, on, forced in rows} == {
        name: (True, True) for name in NEW_TABLES
    }


def _letter(tenant_id: uuid.UUID, consumer: str = "analytics") -> DeadLetter:
    event = Lead(tenant_id=tenant_id, name="Ana").created_event()
    now = datetime.now(UTC)
    return DeadLetter(tenant_id=tenant_id, consumer=consumer, event_id=event.id,
                      event_type=event.type, envelope=event.to_dict(), error="KeyError: 'x'",
                      attempts=5, first_failed_at=now - timedelta(hours=1), last_failed_at=now)  # fmt: skip


def test_the_app_role_sees_only_its_tenants_ledger_rows_and_dead_letters(
    db: PostgresDatabase, migrated: MigrationResult
) -> None:
    tenant_a, _ = make_tenant(db, "bb-a")
    tenant_b, _ = make_tenant(db, "bb-b")
    event_id = uuid.uuid4()
    with db.unit_of_work(tenant_a.id) as uow:
        assert uow.processed_events.claim("analytics", event_id)
        uow.dead_letters.add(_letter(tenant_a.id))
        uow.add_event(Lead(tenant_id=tenant_a.id, name="Ana").created_event())
        uow.commit()
    conn = connect(migrated.app_url)
    try:
        for tenant, expected in ((tenant_a.id, 1), (tenant_b.id, 0)):
            begin_for_tenant(conn, tenant)
            for table in NEW_TABLES:
                count = conn.run(f"SELECT count(*) FROM {table} WHERE tenant_id = :t",
                                 t=tenant_a.id)[0][0]  # fmt: skip
                assert count == expected, (table, tenant)
            conn.run("ROLLBACK")
        conn.run("BEGIN")  # no tenant set: nothing at all
        assert conn.run("SELECT count(*) FROM dead_letters")[0][0] == 0
        with pytest.raises(pg8000.native.DatabaseError):  # cannot write for another tenant
            begin_for_tenant(conn, tenant_b.id)
            conn.run(
                "INSERT INTO processed_events (tenant_id, consumer, event_id) VALUES (:t, 'x', :e)",
                t=tenant_a.id,
                e=uuid.uuid4(),
            )
        conn.run("ROLLBACK")
    finally:
        conn.close()


def test_a_concurrent_duplicate_waits_for_the_first_claim_and_then_skips(
    db: PostgresDatabase, admin_conn
) -> None:
    tenant, _ = make_tenant(db, "bb-dup")
    event_id = uuid.uuid4()
    second_result: list[bool] = []
    first = db.unit_of_work(tenant.id).__enter__()
    assert first.processed_events.claim("automation", event_id)

    def duplicate() -> None:
        with db.unit_of_work(tenant.id) as uow:
            second_result.append(uow.processed_events.claim("automation", event_id))
            uow.commit()

    thread = threading.Thread(target=duplicate)
    thread.start()
    time.sleep(0.3)
    assert second_result == []  # blocked on the first transaction's row
    first.commit()
    first.__exit__(None, None, None)
    thread.join(10)
    assert second_result == [False]
    rows = admin_conn.run(
        "SELECT duplicate_deliveries FROM processed_events WHERE event_id = :e", e=event_id
    )
    assert rows == [[1]]


def test_a_claim_rolled_back_with_its_failed_effect_lets_the_retry_claim_again(
    db: PostgresDatabase,
) -> None:
    tenant, _ = make_tenant(db, "bb-rb")
    event_id = uuid.uuid4()
    with db.unit_of_work(tenant.id) as uow:
        assert uow.processed_events.claim("analytics", event_id)  # then no commit
    with db.unit_of_work(tenant.id) as uow:
        assert uow.processed_events.claim("analytics", event_id)
        uow.commit()


def _message(event: CloudEvent) -> InboundMessage:
    return InboundMessage(queue="q.automation", body=event.to_json(), headers={},
                          message_id=str(event.id), redelivered=False, event=event)  # fmt: skip


def test_the_framework_commits_effect_and_ledger_together_on_real_postgres(
    db: PostgresDatabase, admin_conn, broker_failures: BrokerFailedMessages
) -> None:
    tenant, _ = make_tenant(db, "bb-fw")
    good, bad = (Lead(tenant_id=tenant.id, name=n).created_event() for n in ("good", "bad"))
    written: list[uuid.UUID] = []

    def handle(event: CloudEvent, uow: UnitOfWork) -> None:
        lead = Lead(tenant_id=event.tenant_id, name=f"effect of {event.id}")
        uow.leads.add(lead)
        written.append(lead.id)
        if event is bad:
            raise ValueError("cannot handle this one")

    consumer = Consumer(name="automation", unit_of_work=db.unit_of_work, failures=broker_failures,
                        schedule=RetrySchedule((1, 2)), is_transient=is_transient)  # fmt: skip
    outcome = consume_batch([_message(good), _message(bad), _message(good)], consumer, handle)
    assert (outcome.handled, outcome.retried, outcome.duplicates) == (1, 1, 1)
    [retried] = broker_failures.retried()
    assert (retried.consumer, retried.attempts) == ("automation", 1)
    assert "cannot handle this one" in retried.last_error
    leads = admin_conn.run("SELECT id FROM leads WHERE id = ANY(CAST(:ids AS uuid[]))",
                           ids=[str(i) for i in written])  # fmt: skip
    assert [row[0] for row in leads] == [written[0]]  # the failed effect rolled back
    ledger = admin_conn.run(
        "SELECT event_id FROM processed_events WHERE tenant_id = :t", t=tenant.id
    )
    assert [row[0] for row in ledger] == [good.id]


def test_a_database_outage_fails_the_batch_as_transient(
    migrated: MigrationResult, broker_failures: BrokerFailedMessages
) -> None:
    dead_db = PostgresDatabase(ConnectionPool("postgresql://crm_app:crm_app@127.0.0.1:1/crm", 1))
    failures = broker_failures
    consumer = Consumer(name="automation", unit_of_work=dead_db.unit_of_work, failures=failures,
                        schedule=RetrySchedule((1,)), is_transient=is_transient)  # fmt: skip
    event = Lead(tenant_id=uuid.uuid4(), name="x").created_event()
    with pytest.raises(Exception) as raised:  # whatever pg8000 raises, it is an outage
        consume_batch([_message(event)], consumer, lambda event, uow: None)
    assert is_transient(raised.value)
    assert failures.retried() == [] and failures.dead() == []


def test_dead_letters_page_with_a_keyset_cursor_and_lock_for_one_redrive_at_a_time(
    db: PostgresDatabase,
) -> None:
    tenant, _ = make_tenant(db, "bb-dl")
    letters = [_letter(tenant.id) for _ in range(3)] + [_letter(tenant.id, "automation")]
    for letter in letters:
        with db.unit_of_work(tenant.id) as uow:
            assert uow.dead_letters.add(letter)
            uow.commit()
    with db.unit_of_work(tenant.id) as uow:
        again = dataclasses.replace(letters[0], id=uuid.uuid4(), error="again")
        assert not uow.dead_letters.add(again)  # the same event dead again: updated, not added
        first = uow.dead_letters.page(status=DeadLetterStatus.DEAD, consumer="analytics",
                                      event_type=None, page=PageRequest(2))  # fmt: skip
        assert first.next is not None
        rest = uow.dead_letters.page(status=DeadLetterStatus.DEAD, consumer="analytics",
                                     event_type=None, page=PageRequest(2, first.next))  # fmt: skip
        uow.commit()
    assert len(first.items) == 2 and len(rest.items) == 1 and rest.next is None
    assert {d.id for d in first.items + rest.items} == {letter.id for letter in letters[:3]}

    holder = db.unit_of_work(tenant.id).__enter__()
    held = holder.dead_letters.lock_for_redrive(RedriveSelection(consumer="analytics"), 2)
    with db.unit_of_work(tenant.id) as other:
        # a concurrent redrive skips the locked rows instead of publishing them again
        skipped = other.dead_letters.lock_for_redrive(RedriveSelection(), 10)
        other.commit()
    assert {d.id for d in skipped}.isdisjoint({d.id for d in held}) and len(skipped) == 2
    holder.dead_letters.mark_redriven([d.id for d in held], uuid.uuid4())
    holder.commit()
    holder.__exit__(None, None, None)
    with db.unit_of_work(tenant.id) as uow:
        assert uow.dead_letters.count_open(RedriveSelection()) == 2
        redriven = uow.dead_letters.page(status=DeadLetterStatus.REDRIVEN, consumer=None,
                                         event_type=None, page=PageRequest(10)).items  # fmt: skip
        assert {d.id for d in redriven} == {d.id for d in held}
        assert all(d.redriven_at is not None for d in redriven)
        assert uow.dead_letters.get(letters[0].id).error == "again"  # type: ignore[union-attr]
        uow.dead_letters.delete(letters[3].id)
        assert uow.dead_letters.get(letters[3].id) is None
        uow.commit()


def test_a_batch_is_recorded_in_one_statement_counting_every_duplicate(
    db: PostgresDatabase, admin_conn
) -> None:
    tenant, _ = make_tenant(db, "bb-rec")
    seen, fresh, twice = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with db.unit_of_work(tenant.id) as uow:
        assert uow.processed_events.claim("analytics", seen)
        uow.commit()
    with db.unit_of_work(tenant.id) as uow:
        assert uow.processed_events.handled("analytics", [seen, fresh, twice]) == {seen}
        assert uow.processed_events.handled("automation", [seen]) == set()
        recorded = uow.processed_events.record("analytics", {seen: 1, fresh: 1, twice: 2})
        assert uow.processed_events.record("analytics", {}) == set()
        uow.commit()
    assert recorded == {fresh, twice}
    rows = admin_conn.run(
        "SELECT event_id, duplicate_deliveries FROM processed_events WHERE tenant_id = :t",
        t=tenant.id,
    )
    assert dict((r[0], r[1]) for r in rows) == {seen: 1, fresh: 0, twice: 1}
