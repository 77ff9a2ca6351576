"""The consumer framework every queue worker uses: a batch in, each event's effect once.

Lambda's RabbitMQ event source acks or redelivers a whole batch (no partial-batch response),
and runs one execution environment per queue, so failures are settled here, per message, and
a batch must be cheap:

- the ledger row "consumer X handled event E" commits with X's effect; a redelivered or
  republished event finds the row and does nothing (and is counted as a duplicate);
- a failure of one message: it is republished (publisher confirms) to the delay queue of its
  next attempt, carrying attempt count, first-failure time and error in its headers, or to
  the consumer's dead-letter queue after the last attempt; the rest of the batch goes on;
- a dependency outage (database, search, broker down): the whole batch fails and the event
  source redelivers it later; no message spends an attempt on an outage. The same happens
  when a failed message cannot be republished: it must not be acked before it is elsewhere.

Two shapes of consumer:

- `consume_batch`: an effect in the database, run per event in the transaction that claims
  the ledger row (claimed first: a concurrent duplicate waits for it, then skips);
- `consume_batch_idempotent`: an effect outside the database that is idempotent by itself
  (OpenSearch documents under external versioning), applied to the whole batch in one call;
  events the ledger already has are skipped, the applied ones are recorded after. A crash
  between the two re-applies the effect on redelivery, which is then a no-op.
"""

from __future__ import annotations

import collections
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from crm.domain.events import CloudEvent
from crm.domain.messaging import InboundMessage, RetrySchedule, describe_error
from crm.observability import logger, metrics
from crm.ports import FailedMessagePublisher, UnitOfWork, UnitOfWorkFactory

EventHandler = Callable[[CloudEvent, UnitOfWork], None]
# Applies the effect of many events at once; returns the events it failed on, with why.
BatchEffect = Callable[[Sequence[CloudEvent]], Mapping[uuid.UUID, Exception]]
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class BatchOutcome:
    handled: int = 0
    duplicates: int = 0
    retried: int = 0
    dead_lettered: int = 0
    malformed: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class Consumer:
    """A queue worker: its name (the ledger's key, e.g. "analytics") and its plumbing."""

    name: str
    unit_of_work: UnitOfWorkFactory
    failures: FailedMessagePublisher
    schedule: RetrySchedule
    is_transient: Callable[[BaseException], bool]
    clock: Clock = utc_now


# ------------------------------------------------------------------ effects in the database


def handle_once(event: CloudEvent, consumer: Consumer, handle: EventHandler) -> bool:
    """Run the handler inside the transaction that records the event as handled; False when
    it was handled before."""
    with consumer.unit_of_work(event.tenant_id) as uow:
        if not uow.processed_events.claim(consumer.name, event.id):
            uow.commit()  # keeps the duplicate count
            return False
        handle(event, uow)
        uow.commit()
    return True


def consume_batch(
    messages: Sequence[InboundMessage], consumer: Consumer, handle: EventHandler
) -> BatchOutcome:
    with _OutcomeScope() as outcome:
        for message in messages:
            event = message.event
            if event is None:
                _drop_malformed(message, outcome)
                continue
            _bind(event)
            try:
                if handle_once(event, consumer, handle):
                    outcome.handled += 1
                else:
                    outcome.duplicates += 1
                    logger.info("duplicate delivery skipped", extra={"consumer": consumer.name})
            except Exception as error:
                _raise_if_outage(error, consumer)
                _settle_failure(message, error, consumer, outcome)
    return outcome


# ------------------------------------------------------------------ idempotent effects, in bulk


def consume_batch_idempotent(
    messages: Sequence[InboundMessage], consumer: Consumer, apply: BatchEffect
) -> BatchOutcome:
    with _OutcomeScope() as outcome:
        first: dict[uuid.UUID, InboundMessage] = {}
        deliveries: collections.Counter[uuid.UUID] = collections.Counter()
        for message in messages:
            if message.event is None:
                _drop_malformed(message, outcome)
                continue
            first.setdefault(message.event.id, message)
            deliveries[message.event.id] += 1
        by_tenant = _by_tenant(first)
        done: set[uuid.UUID] = set()
        for tenant_id, ids in by_tenant.items():
            with consumer.unit_of_work(tenant_id) as uow:
                done |= uow.processed_events.handled(consumer.name, ids)
        fresh = [first[i].event for i in first if i not in done]
        failed = _apply(apply, [event for event in fresh if event is not None], consumer)
        for tenant_id, ids in by_tenant.items():
            succeeded = {i: deliveries[i] for i in ids if i not in failed}
            with consumer.unit_of_work(tenant_id) as uow:
                recorded = uow.processed_events.record(consumer.name, succeeded)
                uow.commit()
            outcome.handled += len(recorded)
            outcome.duplicates += sum(succeeded.values()) - len(recorded)
            outcome.duplicates += sum(deliveries[i] - 1 for i in ids if i in failed)
        for event_id, error in failed.items():
            message = first[event_id]
            assert message.event is not None
            _bind(message.event)
            _settle_failure(message, error, consumer, outcome)
    return outcome


def _apply(
    apply: BatchEffect, events: list[CloudEvent], consumer: Consumer
) -> dict[uuid.UUID, Exception]:
    if not events:
        return {}
    try:
        failed = dict(apply(events))
    except Exception as error:
        _raise_if_outage(error, consumer)
        # Not an outage, and not attributable to one event: each goes its own retry way.
        return {event.id: error for event in events}
    for item_error in failed.values():
        _raise_if_outage(item_error, consumer)
    return failed


def _by_tenant(first: Mapping[uuid.UUID, InboundMessage]) -> dict[uuid.UUID, list[uuid.UUID]]:
    grouped: dict[uuid.UUID, list[uuid.UUID]] = collections.defaultdict(list)
    for event_id, message in first.items():
        assert message.event is not None
        grouped[message.event.tenant_id].append(event_id)
    return grouped


# ------------------------------------------------------------------ reporting and failures


class _OutcomeScope:
    """Counts a batch's outcome into metrics and clears the per-event log keys, however the
    batch ends."""

    def __init__(self) -> None:
        self._outcome = BatchOutcome()

    def __enter__(self) -> BatchOutcome:
        return self._outcome

    def __exit__(self, *exc: object) -> None:
        logger.remove_keys(["event_id", "tenant_id", "correlation_id"])
        for name, value in self._outcome.as_dict().items():
            if value:
                metric = "Events" + name.title().replace("_", "")
                metrics.add_metric(name=metric, unit="Count", value=value)


def _bind(event: CloudEvent) -> None:
    """Every log line about this event carries its id, tenant and correlation id."""
    logger.append_keys(
        event_id=str(event.id), tenant_id=str(event.tenant_id), correlation_id=event.correlation_id
    )


def _drop_malformed(message: InboundMessage, outcome: BatchOutcome) -> None:
    # Not a CRM CloudEvent: no retry can fix it and no tenant owns it.
    outcome.malformed += 1
    logger.error(
        "dropping a message that is not a CRM CloudEvent",
        extra={"queue": message.queue, "message_id": message.message_id,
               "error": message.parse_error, "body": message.body[:500].decode(errors="replace")},
    )  # fmt: skip


def _raise_if_outage(error: BaseException, consumer: Consumer) -> None:
    if consumer.is_transient(error):
        logger.warning(
            "dependency unavailable; failing the batch for redelivery",
            extra={"consumer": consumer.name, "error": describe_error(error)},
        )
        raise error


def _settle_failure(
    message: InboundMessage, error: Exception, consumer: Consumer, outcome: BatchOutcome
) -> None:
    """Send one failed message to its next delay queue, or to the dead-letter queue."""
    assert message.event is not None
    failure = message.failure_after(consumer.name, describe_error(error), consumer.clock())
    delay = consumer.schedule.delay_after(failure.attempts)
    metrics.add_metric(name="ConsumerErrors", unit="Count", value=1)
    logger.error(
        "event handling failed",
        exc_info=error,
        extra={"consumer": consumer.name, "event_type": message.event.type,
               "attempts": failure.attempts, "first_failed_at": failure.first_failed_at.isoformat(),
               "next": f"retry in {delay:g} s" if delay is not None else "dead-letter queue"},
    )  # fmt: skip
    if delay is None:
        consumer.failures.dead_letter(message, failure)
        outcome.dead_lettered += 1
    else:
        consumer.failures.retry(message, failure, delay)
        outcome.retried += 1
