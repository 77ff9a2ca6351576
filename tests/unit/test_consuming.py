"""The consumer framework on fakes: each message settled on its own (handled once, retried on
the schedule with its failure record, dead-lettered after the last attempt), and a dependency
outage fails the whole batch without spending anyone's attempts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from crm.adapters.transient import is_transient
from crm.domain.events import CloudEvent
from crm.domain.leads import Lead
from crm.domain.messaging import FailureRecord, InboundMessage, RetrySchedule
from crm.ports import UnitOfWork
from crm.services.consuming import Consumer, consume_batch, consume_batch_idempotent

from tests.unit.backbone_fakes import FakeFailedMessages
from tests.unit.fakes import FakeStore, FakeUnitOfWork

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SCHEDULE = RetrySchedule((10, 60, 600, 3600))


def message(event: CloudEvent | None, headers: dict | None = None) -> InboundMessage:  # type: ignore[type-arg]
    return InboundMessage(
        queue="q.analytics",
        body=event.to_json() if event else b"{not json",
        headers=headers or {},
        message_id=str(event.id) if event else None,
        redelivered=False,
        event=event,
        parse_error=None if event else "JSONDecodeError",
    )


def lead_event(tenant_id: uuid.UUID | None = None) -> CloudEvent:
    return Lead(tenant_id=tenant_id or uuid.uuid4(), name="Ana").created_event("corr-1")


class Recorder:
    """A handler whose effect is a row in the fake store; fails the first `fail` calls."""

    def __init__(self, fail: int = 0, error: Exception | None = None) -> None:
        self.calls: list[uuid.UUID] = []
        self.fail = fail
        self.error = error or ValueError("bad data")

    def __call__(self, event: CloudEvent, uow: UnitOfWork) -> None:
        self.calls.append(event.id)
        lead = Lead(tenant_id=event.tenant_id, name=f"effect of {event.id}")
        uow.leads.add(lead)  # an effect in the consumer's transaction
        if self.fail:
            self.fail -= 1
            raise self.error


def consumer(store: FakeStore, failures: FakeFailedMessages) -> Consumer:
    return Consumer(
        name="analytics",
        unit_of_work=lambda tenant_id: FakeUnitOfWork(store, tenant_id),
        failures=failures,
        schedule=SCHEDULE,
        is_transient=is_transient,
        clock=lambda: NOW,
    )


def test_a_handled_event_is_recorded_with_its_effect_and_a_redelivery_is_a_no_op() -> None:
    store, handler, failures = FakeStore(), Recorder(), FakeFailedMessages()
    event = lead_event()
    first = consume_batch([message(event)], consumer(store, failures), handler)
    again = consume_batch([message(event), message(event)], consumer(store, failures), handler)
    assert first.as_dict() == {"handled": 1, "duplicates": 0, "retried": 0, "dead_lettered": 0,
                               "malformed": 0}  # fmt: skip
    assert again.duplicates == 2 and again.handled == 0
    assert handler.calls == [event.id] and len(store.leads) == 1
    assert store.processed[(event.tenant_id, "analytics", event.id)] == 2  # duplicates counted
    assert failures.retried == [] and failures.dead == []


def test_a_failing_message_is_retried_alone_on_the_schedule_and_the_batch_goes_on() -> None:
    store, failures = FakeStore(), FakeFailedMessages()
    bad, good = lead_event(), lead_event()
    handler = Recorder(fail=1)
    outcome = consume_batch([message(bad), message(good)], consumer(store, failures), handler)
    assert outcome.retried == 1 and outcome.handled == 1
    (retried, failure, delay), = failures.retried  # fmt: skip
    assert retried.event == bad and delay == 10
    assert failure == FailureRecord("analytics", 1, NOW, NOW, "ValueError: bad data")
    # the failed attempt left neither its effect nor a ledger row
    assert len(store.leads) == 1
    assert (bad.tenant_id, "analytics", bad.id) not in store.processed


def test_each_retry_counts_up_and_keeps_the_first_failure_time() -> None:
    store, failures, event = FakeStore(), FakeFailedMessages(), lead_event()
    first_failure = NOW - timedelta(minutes=11)
    carried = FailureRecord("analytics", 2, first_failure, NOW - timedelta(minutes=1), "old")
    consume_batch([message(event, carried.to_headers())],
                  consumer(store, failures), Recorder(fail=1))  # fmt: skip
    (_, failure, delay), = failures.retried  # fmt: skip
    assert failure.attempts == 3 and failure.first_failed_at == first_failure
    assert failure.last_failed_at == NOW and delay == 600


def test_after_the_last_attempt_the_message_goes_to_the_dead_letter_queue() -> None:
    store, failures, event = FakeStore(), FakeFailedMessages(), lead_event()
    carried = FailureRecord("analytics", SCHEDULE.max_attempts - 1, NOW, NOW, "old")
    outcome = consume_batch([message(event, carried.to_headers())],
                            consumer(store, failures), Recorder(fail=1))  # fmt: skip
    assert outcome.dead_lettered == 1 and failures.retried == []
    (dead, failure), = failures.dead  # fmt: skip
    assert dead.event == event and failure.attempts == SCHEDULE.max_attempts
    assert failure.last_error == "ValueError: bad data"


def test_another_consumers_failure_record_does_not_count_against_this_one() -> None:
    store, failures, event = FakeStore(), FakeFailedMessages(), lead_event()
    theirs = FailureRecord("automation", 4, NOW, NOW, "theirs")
    consume_batch([message(event, theirs.to_headers())],
                  consumer(store, failures), Recorder(fail=1))  # fmt: skip
    assert failures.retried[0][1].attempts == 1


def test_a_dependency_outage_fails_the_whole_batch_without_spending_attempts() -> None:
    store, failures = FakeStore(), FakeFailedMessages()
    done, down = lead_event(), lead_event()
    handler = Recorder(error=ConnectionError("database restarting"))
    first = consume_batch([message(done)], consumer(store, failures), handler)
    assert first.handled == 1
    handler.fail = 1
    with pytest.raises(ConnectionError):
        consume_batch([message(done), message(down)], consumer(store, failures), handler)
    assert failures.retried == [] and failures.dead == []
    # the redelivered batch: the settled message is a duplicate, the other one runs now
    again = consume_batch([message(done), message(down)], consumer(store, failures), handler)
    assert (again.duplicates, again.handled) == (1, 1)
    assert handler.calls.count(done.id) == 1 and len(store.leads) == 2


def test_when_a_failed_message_cannot_be_republished_the_batch_fails() -> None:
    store, failures = FakeStore(), FakeFailedMessages(broken=True)
    with pytest.raises(ConnectionError):
        consume_batch([message(lead_event())], consumer(store, failures), Recorder(fail=1))


def test_a_message_that_is_not_a_cloud_event_is_reported_not_retried() -> None:
    store, failures, handler = FakeStore(), FakeFailedMessages(), Recorder()
    good = lead_event()
    outcome = consume_batch([message(None), message(good)], consumer(store, failures), handler)
    assert (outcome.malformed, outcome.handled) == (1, 1)
    assert failures.retried == [] and failures.dead == [] and handler.calls == [good.id]


# ------------------------------------------------------------------ bulk, idempotent effects


class BulkIndex:
    """An idempotent external effect applied in bulk: documents by event id, write count."""

    def __init__(self, reject: set[uuid.UUID] | None = None, down: bool = False) -> None:
        self.documents: dict[uuid.UUID, int] = {}
        self.calls: list[list[uuid.UUID]] = []
        self.reject = reject or set()
        self.down = down

    def __call__(self, events: Sequence[CloudEvent]) -> dict[uuid.UUID, Exception]:
        if self.down:
            raise ConnectionError("search cluster unreachable")
        self.calls.append([event.id for event in events])
        for event in events:
            if event.id not in self.reject:
                self.documents[event.id] = self.documents.get(event.id, 0) + 1
        return {i: ValueError("mapper_parsing_exception") for i in self.reject
                if i in {e.id for e in events}}  # fmt: skip


def test_a_bulk_batch_applies_new_events_once_and_skips_handled_ones() -> None:
    store, failures, index = FakeStore(), FakeFailedMessages(), BulkIndex()
    tenant_a, tenant_b = uuid.uuid4(), uuid.uuid4()
    old, new_a, new_b = lead_event(tenant_a), lead_event(tenant_a), lead_event(tenant_b)
    consume_batch_idempotent([message(old)], consumer(store, failures), index)
    outcome = consume_batch_idempotent(
        [message(old), message(new_a), message(new_b), message(new_b)],
        consumer(store, failures),
        index,
    )
    assert (outcome.handled, outcome.duplicates) == (2, 2)
    assert index.calls[-1] == [new_a.id, new_b.id]  # one call, without the handled event
    assert index.documents == {old.id: 1, new_a.id: 1, new_b.id: 1}
    assert store.processed[(tenant_a, "analytics", old.id)] == 1  # its repeat was counted
    assert store.processed[(tenant_b, "analytics", new_b.id)] == 1  # so was the in-batch one


def test_a_rejected_event_is_retried_alone_and_not_recorded() -> None:
    store, failures = FakeStore(), FakeFailedMessages()
    bad, good = lead_event(), lead_event()
    index = BulkIndex(reject={bad.id})
    outcome = consume_batch_idempotent([message(bad), message(good)],
                                       consumer(store, failures), index)  # fmt: skip
    assert (outcome.handled, outcome.retried) == (1, 1)
    (retried, failure, delay), = failures.retried  # fmt: skip
    assert retried.event == bad and failure.attempts == 1 and delay == 10
    assert "mapper_parsing_exception" in failure.last_error
    assert (bad.tenant_id, "analytics", bad.id) not in store.processed


def test_an_unavailable_index_fails_the_bulk_batch_without_recording_anything() -> None:
    store, failures, event = FakeStore(), FakeFailedMessages(), lead_event()
    with pytest.raises(ConnectionError):
        consume_batch_idempotent([message(event)], consumer(store, failures),
                                 BulkIndex(down=True))  # fmt: skip
    assert store.processed == {} and failures.retried == [] and failures.dead == []


def test_a_bulk_call_that_fails_for_bad_data_retries_each_event_on_its_own() -> None:
    store, failures = FakeStore(), FakeFailedMessages()
    events = [lead_event(), lead_event()]

    def broken(batch: Sequence[CloudEvent]) -> dict[uuid.UUID, Exception]:
        raise KeyError("lead")

    outcome = consume_batch_idempotent([message(e) for e in events],
                                       consumer(store, failures), broken)  # fmt: skip
    assert outcome.retried == 2 and [m.event for m, _, _ in failures.retried] == events
