"""Dead letters on fakes: collected from DLQ messages (ours and the broker's), listed page by
page per tenant, redriven (ids, filter, all) and discarded, every action audited."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from crm.adapters.transient import is_transient
from crm.domain.audit import RequestMeta
from crm.domain.dead_letters import DeadLetterStatus, RedriveSelection
from crm.domain.errors import Conflict, NotFound
from crm.domain.events import CloudEvent
from crm.domain.leads import Lead
from crm.domain.messaging import FailureRecord, InboundMessage
from crm.domain.pagination import PageRequest
from crm.domain.tenants import Principal, Role
from crm.services.dead_letters import (
    collect_dead_letter,
    collect_dead_letters,
    discard_dead_letter,
    list_dead_letters,
    redrive_dead_letters,
)

from tests.unit.backbone_fakes import FakeRedriver
from tests.unit.fakes import FakeStore, FakeUnitOfWork

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
META = RequestMeta(ip="203.0.113.9", user_agent="pytest", request_id="req-1")


def uow(store: FakeStore):  # type: ignore[no-untyped-def]
    return lambda tenant_id: FakeUnitOfWork(store, tenant_id)


def admin(tenant_id: uuid.UUID) -> Principal:
    return Principal(tenant_id=tenant_id, user_id=uuid.uuid4(), role=Role.ADMIN)


def dlq_message(event: CloudEvent | None, headers: dict, queue: str = "q.analytics.dlq"):  # type: ignore[no-untyped-def,type-arg]
    return InboundMessage(queue=queue, body=event.to_json() if event else b"garbage",
                          headers=headers, message_id=None, redelivered=False, event=event)  # fmt: skip


def collect(store: FakeStore, event: CloudEvent, queue: str = "q.analytics.dlq") -> None:
    failure = FailureRecord(queue.split(".")[1], 5, NOW - timedelta(hours=1), NOW, "KeyError: 'x'")
    assert collect_dead_letter(dlq_message(event, failure.to_headers(), queue),
                               unit_of_work=uow(store), clock=lambda: NOW)  # fmt: skip


def test_a_message_dead_lettered_by_the_framework_keeps_its_failure_record() -> None:
    store, tenant = FakeStore(), uuid.uuid4()
    event = Lead(tenant_id=tenant, name="Ana").created_event()
    collect(store, event)
    (letter,) = store.dead_letters.values()
    assert (letter.tenant_id, letter.consumer, letter.event_id) == (tenant, "analytics", event.id)
    assert (letter.error, letter.attempts) == ("KeyError: 'x'", 5)
    assert letter.first_failed_at == NOW - timedelta(hours=1) and letter.envelope["id"] == str(
        event.id
    )


def test_a_redelivered_dlq_message_updates_the_open_letter_instead_of_adding_one() -> None:
    store, event = FakeStore(), Lead(tenant_id=uuid.uuid4(), name="Ana").created_event()
    collect(store, event)
    collect(store, event)
    assert len(store.dead_letters) == 1


def test_a_message_the_broker_dead_lettered_says_why() -> None:
    store, event = FakeStore(), Lead(tenant_id=uuid.uuid4(), name="Ana").created_event()
    headers = {"x-death": [{"reason": "delivery_limit", "queue": "q.automation",
                            "time": "Nov 28, 2026, 11:59:00 AM", "count": 1}]}  # fmt: skip
    collect_dead_letter(dlq_message(event, headers, "q.automation.dlq"),
                        unit_of_work=uow(store), clock=lambda: NOW)  # fmt: skip
    (letter,) = store.dead_letters.values()
    assert letter.consumer == "automation" and "delivery_limit" in letter.error
    assert letter.first_failed_at == datetime(2026, 11, 28, 11, 59, tzinfo=UTC)
    assert letter.attempts == 1


def test_a_message_without_a_tenant_is_dropped_not_stored() -> None:
    store = FakeStore()
    assert not collect_dead_letter(
        dlq_message(None, {}), unit_of_work=uow(store), clock=lambda: NOW
    )
    assert store.dead_letters == {}


def _letters(store: FakeStore, tenant: uuid.UUID, n: int, queue: str = "q.analytics.dlq") -> None:
    for i in range(n):
        collect(store, Lead(tenant_id=tenant, name=f"L{i}").created_event(), queue)


def test_listing_pages_newest_first_and_sees_only_the_callers_tenant() -> None:
    store, mine, theirs = FakeStore(), uuid.uuid4(), uuid.uuid4()
    _letters(store, mine, 3)
    _letters(store, theirs, 2)
    first = list_dead_letters(admin(mine), unit_of_work=uow(store), page=PageRequest(2))
    assert len(first.items) == 2 and first.next is not None
    second = list_dead_letters(admin(mine), unit_of_work=uow(store),
                               page=PageRequest(2, first.next))  # fmt: skip
    assert len(second.items) == 1 and second.next is None
    listed = first.items + second.items
    assert {d.id for d in listed} == {
        d.id for d in store.dead_letters.values() if d.tenant_id == mine
    }
    times = [d.dead_lettered_at for d in listed]
    assert times == sorted(times, reverse=True)  # type: ignore[type-var]


def test_listing_filters_by_consumer_and_status() -> None:
    store, tenant = FakeStore(), uuid.uuid4()
    _letters(store, tenant, 2)
    _letters(store, tenant, 1, "q.automation.dlq")
    page = list_dead_letters(admin(tenant), unit_of_work=uow(store), page=PageRequest(),
                             consumer="automation")  # fmt: skip
    assert [d.consumer for d in page.items] == ["automation"]
    redriven = list_dead_letters(admin(tenant), unit_of_work=uow(store), page=PageRequest(),
                                 status=DeadLetterStatus.REDRIVEN)  # fmt: skip
    assert redriven.items == []


def test_redrive_by_ids_republishes_to_the_consumers_queue_marks_and_audits() -> None:
    store, tenant, redriver = FakeStore(), uuid.uuid4(), FakeRedriver()
    _letters(store, tenant, 2)
    target = next(iter(store.dead_letters.values()))
    caller = admin(tenant)
    result = redrive_dead_letters(caller, RedriveSelection(ids=(target.id,)),
                                  unit_of_work=uow(store), redriver=redriver, meta=META)  # fmt: skip
    assert result == {"redriven": 1, "ids": [str(target.id)], "remaining": 0}
    assert redriver.published == [("q.analytics", target.envelope)]
    letter = store.dead_letters[target.id]
    assert letter.status is DeadLetterStatus.REDRIVEN and letter.redriven_by == caller.user_id
    (entry,) = store.audit
    assert (entry.action, entry.entity_id, entry.meta) == ("dead_letter.redriven", str(target.id),
                                                           META)  # fmt: skip
    with pytest.raises(Conflict):  # a second redrive of the same letter
        redrive_dead_letters(caller, RedriveSelection(ids=(target.id,)),
                             unit_of_work=uow(store), redriver=redriver, meta=META)  # fmt: skip


def test_redrive_of_an_unknown_or_other_tenants_id_is_404_and_publishes_nothing() -> None:
    store, mine, theirs, redriver = FakeStore(), uuid.uuid4(), uuid.uuid4(), FakeRedriver()
    _letters(store, mine, 1)
    _letters(store, theirs, 1)
    foreign = next(d for d in store.dead_letters.values() if d.tenant_id == theirs)
    own = next(d for d in store.dead_letters.values() if d.tenant_id == mine)
    with pytest.raises(NotFound):
        redrive_dead_letters(admin(mine), RedriveSelection(ids=(own.id, foreign.id)),
                             unit_of_work=uow(store), redriver=redriver, meta=META)  # fmt: skip
    assert redriver.published == [] and store.dead_letters[own.id].status is DeadLetterStatus.DEAD


def test_redrive_by_filter_and_all_is_bounded_and_says_what_remains() -> None:
    store, tenant, redriver = FakeStore(), uuid.uuid4(), FakeRedriver()
    _letters(store, tenant, 3)
    _letters(store, tenant, 2, "q.automation.dlq")
    by_filter = redrive_dead_letters(admin(tenant), RedriveSelection(consumer="automation"),
                                     unit_of_work=uow(store), redriver=redriver, meta=META)  # fmt: skip
    assert by_filter["redriven"] == 2 and {q for q, _ in redriver.published} == {"q.automation"}
    everything = redrive_dead_letters(admin(tenant), RedriveSelection(), unit_of_work=uow(store),
                                      redriver=redriver, meta=META, limit=2)  # fmt: skip
    assert (everything["redriven"], everything["remaining"]) == (2, 1)
    assert len(store.audit) == 4


def test_a_broker_failure_during_redrive_leaves_the_letters_dead() -> None:
    store, tenant = FakeStore(), uuid.uuid4()
    _letters(store, tenant, 1)
    with pytest.raises(ConnectionError):
        redrive_dead_letters(admin(tenant), RedriveSelection(), unit_of_work=uow(store),
                             redriver=FakeRedriver(broken=True), meta=META)  # fmt: skip
    (letter,) = store.dead_letters.values()
    assert letter.status is DeadLetterStatus.DEAD and store.audit == []


def test_discard_deletes_and_audits_and_is_404_for_another_tenant() -> None:
    store, mine, theirs = FakeStore(), uuid.uuid4(), uuid.uuid4()
    _letters(store, mine, 1)
    (letter,) = store.dead_letters.values()
    with pytest.raises(NotFound):
        discard_dead_letter(admin(theirs), letter.id, unit_of_work=uow(store), meta=META)
    discard_dead_letter(admin(mine), letter.id, unit_of_work=uow(store), meta=META)
    assert store.dead_letters == {}
    (entry,) = store.audit
    assert entry.action == "dead_letter.discarded"
    assert entry.changes["event_id"] == str(letter.event_id)
    with pytest.raises(NotFound):
        discard_dead_letter(admin(mine), letter.id, unit_of_work=uow(store), meta=META)


def test_a_redriven_letter_cannot_be_discarded() -> None:
    store, tenant = FakeStore(), uuid.uuid4()
    _letters(store, tenant, 1)
    (letter,) = store.dead_letters.values()
    redrive_dead_letters(admin(tenant), RedriveSelection(), unit_of_work=uow(store),
                         redriver=FakeRedriver(), meta=META)  # fmt: skip
    with pytest.raises(Conflict):
        discard_dead_letter(admin(tenant), letter.id, unit_of_work=uow(store), meta=META)


class _BrokenUnitOfWork(FakeUnitOfWork):
    def __init__(self, store: FakeStore, tenant_id: uuid.UUID, error: Exception) -> None:
        super().__init__(store, tenant_id)
        self._error = error

    def commit(self) -> None:
        raise self._error


def _failing(store: FakeStore, error: Exception):  # type: ignore[no-untyped-def]
    return lambda tenant_id: _BrokenUnitOfWork(store, tenant_id, error)


def test_a_letter_that_can_never_be_stored_is_dropped_so_it_cannot_block_the_queue() -> None:
    store, event = FakeStore(), Lead(tenant_id=uuid.uuid4(), name="Ana").created_event()
    good = Lead(tenant_id=uuid.uuid4(), name="Bo").created_event()
    failure = FailureRecord("analytics", 5, NOW, NOW, "x").to_headers()
    calls = iter([_failing(store, ValueError("tenant is gone")), uow(store)])
    result = collect_dead_letters(
        [dlq_message(event, failure), dlq_message(good, failure)],
        unit_of_work=lambda tenant_id: next(calls)(tenant_id),
        clock=lambda: NOW,
        is_transient=is_transient,
    )
    assert result == {"stored": 1, "dropped": 1}
    assert [d.event_id for d in store.dead_letters.values()] == [good.id]


def test_a_database_outage_fails_the_collectors_batch() -> None:
    store, event = FakeStore(), Lead(tenant_id=uuid.uuid4(), name="Ana").created_event()
    failure = FailureRecord("analytics", 5, NOW, NOW, "x").to_headers()
    with pytest.raises(ConnectionError):
        collect_dead_letters([dlq_message(event, failure)],
                             unit_of_work=_failing(store, ConnectionError("db down")),
                             clock=lambda: NOW, is_transient=is_transient)  # fmt: skip
