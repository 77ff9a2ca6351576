"""The consumer framework every queue worker uses: a batch in, each message handled once.

Lambda's RabbitMQ event source acks or redelivers a whole batch; it has no partial-batch
response. So failures are settled here, one message at a time:

- success: the handler's effect and the ledger row "consumer X handled event E" commit in one
  transaction; a redelivered or republished event finds the row and does nothing;
- a failure of that one message: it is republished (with publisher confirms) to the delay
  queue of its next attempt, carrying attempt count, first-failure time and error in its
  headers, or to the consumer's dead-letter queue after the last attempt; the batch goes on;
- a dependency outage (database, search, broker down): the whole batch fails and the event
  source redelivers it later; no message spends an attempt on an outage. The same happens
  when a failed message cannot be republished: it must not be acked before it is elsewhere.

Messages already settled in a batch that fails later are redelivered too; the ledger makes
their second handling a no-op.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from crm.domain.events import CloudEvent
from crm.domain.messaging import InboundMessage, RetrySchedule, describe_error
from crm.observability import logger, metrics
from crm.ports import FailedMessagePublisher, UnitOfWork, UnitOfWorkFactory

EventHandler = Callable[[CloudEvent, UnitOfWork], None]
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
    """A queue worker: its name (the ledger's key, e.g. "analytics") and what it does."""

    name: str
    handle: EventHandler
    unit_of_work: UnitOfWorkFactory
    failures: FailedMessagePublisher
    schedule: RetrySchedule
    is_transient: Callable[[BaseException], bool]
    clock: Clock = utc_now


def handle_once(event: CloudEvent, consumer: Consumer) -> bool:
    """Run the handler inside the transaction that records the event as handled; False when
    it was handled before. Claiming first means a concurrent duplicate waits on the ledger
    row and then skips, so even an effect outside the database starts only once per commit."""
    with consumer.unit_of_work(event.tenant_id) as uow:
        if not uow.processed_events.claim(consumer.name, event.id):
            uow.commit()  # keeps the duplicate count
            return False
        consumer.handle(event, uow)
        uow.commit()
    return True


def consume_batch(messages: Sequence[InboundMessage], consumer: Consumer) -> BatchOutcome:
    outcome = BatchOutcome()
    try:
        for message in messages:
            _settle(message, consumer, outcome)
    finally:
        logger.remove_keys(["event_id", "tenant_id", "correlation_id"])
        for name, value in outcome.as_dict().items():
            if value:
                metrics.add_metric(name=f"Events{name.title().replace('_', '')}", unit="Count",
                                   value=value)  # fmt: skip
    return outcome


def _settle(message: InboundMessage, consumer: Consumer, outcome: BatchOutcome) -> None:
    event = message.event
    if event is None:
        # Not a CRM CloudEvent: no retry can fix it and no tenant owns it.
        outcome.malformed += 1
        logger.error(
            "dropping a message that is not a CRM CloudEvent",
            extra={"queue": message.queue, "message_id": message.message_id,
                   "error": message.parse_error, "body": message.body[:500].decode(errors="replace")},
        )  # fmt: skip
        return
    logger.append_keys(
        event_id=str(event.id), tenant_id=str(event.tenant_id), correlation_id=event.correlation_id
    )
    try:
        if handle_once(event, consumer):
            outcome.handled += 1
        else:
            outcome.duplicates += 1
            logger.info("duplicate delivery skipped", extra={"consumer": consumer.name})
        return
    except Exception as error:
        if consumer.is_transient(error):
            logger.warning(
                "dependency unavailable; failing the batch for redelivery",
                extra={"consumer": consumer.name, "error": describe_error(error)},
            )
            raise
        failure = message.failure_after(consumer.name, describe_error(error), consumer.clock())
        delay = consumer.schedule.delay_after(failure.attempts)
        metrics.add_metric(name="ConsumerErrors", unit="Count", value=1)
        logger.exception(
            "event handling failed",
            extra={"consumer": consumer.name, "event_type": event.type,
                   "attempts": failure.attempts, "first_failed_at": failure.first_failed_at.isoformat(),
                   "next": f"retry in {delay:g} s" if delay is not None else "dead-letter queue"},
        )  # fmt: skip
    if delay is None:
        consumer.failures.dead_letter(message, failure)
        outcome.dead_lettered += 1
    else:
        consumer.failures.retry(message, failure, delay)
        outcome.retried += 1
