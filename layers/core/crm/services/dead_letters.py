"""Dead letters: collected from the consumers' dead-letter queues into the tenant's table,
listed, redriven to the consumer's queue with fresh attempts, or discarded. Every redrive
and discard is audited in the transaction that makes it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from crm.domain.audit import AuditEntry, RequestMeta
from crm.domain.dead_letters import DeadLetter, DeadLetterStatus, RedriveSelection
from crm.domain.errors import Conflict, NotFound
from crm.domain.messaging import FailureRecord, InboundMessage, consumer_of_queue, queue_of
from crm.domain.pagination import Page, PageRequest
from crm.domain.tenants import Principal
from crm.observability import logger, metrics
from crm.ports import DeadLettersUnitOfWork, Redriver
from crm.services.notifications import notify_dead_letter

REDRIVE_BATCH_LIMIT = 500
BROKER_EXPIRY = "expired"  # x-death reason of a delay queue; not a failure


# ------------------------------------------------------------------ collecting


def collect_dead_letter(
    message: InboundMessage,
    *,
    unit_of_work: Callable[[uuid.UUID], DeadLettersUnitOfWork],
    clock: Callable[[], datetime],
) -> bool:
    """Store one message of a dead-letter queue for its tenant's admins; True when stored.
    A message without a tenant (not a CRM CloudEvent) cannot be shown to anyone: it is logged
    with its body and counted, then dropped."""
    event = message.event
    consumer = _consumer_of(message)
    if event is None or consumer is None:
        metrics.add_metric(name="DeadLettersUnattributable", unit="Count", value=1)
        logger.error(
            "dead letter with no tenant or consumer; dropped",
            extra={"queue": message.queue, "message_id": message.message_id,
                   "error": message.parse_error, "body": message.body[:2000].decode(errors="replace")},
        )  # fmt: skip
        return False
    error, attempts, first_failed_at, last_failed_at = _failure_of(message, clock())
    letter = DeadLetter(
        tenant_id=event.tenant_id,
        consumer=consumer,
        event_id=event.id,
        event_type=event.type,
        envelope=event.to_dict(),
        error=error,
        attempts=attempts,
        first_failed_at=first_failed_at,
        last_failed_at=last_failed_at,
    )
    with unit_of_work(event.tenant_id) as uow:
        if uow.dead_letters.add(letter):
            notify_dead_letter(uow, letter.id, consumer, event.type)
        uow.commit()
    metrics.add_metric(name="DeadLettersCollected", unit="Count", value=1)
    logger.warning(
        "dead letter stored",
        extra={"consumer": consumer, "event_id": str(event.id), "tenant_id": str(event.tenant_id),
               "correlation_id": event.correlation_id, "attempts": attempts, "error": error},
    )  # fmt: skip
    return True


def collect_dead_letters(
    messages: Sequence[InboundMessage],
    *,
    unit_of_work: Callable[[uuid.UUID], DeadLettersUnitOfWork],
    clock: Callable[[], datetime],
    is_transient: Callable[[BaseException], bool],
) -> dict[str, int]:
    """Store a batch of DLQ messages. A dependency outage fails the batch (redelivered; the
    dead-letter queues have no delivery limit). A message that can never be stored (say, its
    tenant is gone) is logged with its body and counted, then acked: it must not block the
    queue behind it."""
    stored = dropped = 0
    for message in messages:
        try:
            stored += collect_dead_letter(message, unit_of_work=unit_of_work, clock=clock)
        except Exception as error:
            if is_transient(error):
                raise
            dropped += 1
            metrics.add_metric(name="DeadLettersUnstorable", unit="Count", value=1)
            logger.exception(
                "dead letter could not be stored; dropped",
                extra={"queue": message.queue, "message_id": message.message_id,
                       "body": message.body[:2000].decode(errors="replace")},
            )  # fmt: skip
    return {"stored": stored, "dropped": dropped}


def _consumer_of(message: InboundMessage) -> str | None:
    named = message.headers.get("crm-consumer")
    from_queue = consumer_of_queue(message.queue)
    return from_queue or (str(named) if named else None)


def _failure_of(message: InboundMessage, now: datetime) -> tuple[str, int, datetime, datetime]:
    """(error, attempts, first failure, last failure) from the headers: the consumer
    framework's own, or the broker's x-death when the broker dead-lettered the message."""
    ours = FailureRecord.from_headers(message.headers)
    deaths = message.headers.get("x-death")
    latest = deaths[0] if isinstance(deaths, list) and deaths else None
    if isinstance(latest, Mapping) and latest.get("reason") != BROKER_EXPIRY:
        reason = latest.get("reason")
        died_at = _header_time(latest.get("time")) or now
        error = (
            f"the broker dead-lettered it ({reason}): it was delivered up to the queue's "
            "delivery limit without being settled, so its batch kept failing on a dependency "
            "or its consumer kept crashing"
            if reason == "delivery_limit"
            else f"the broker dead-lettered it ({reason})"
        )
        if ours is not None:
            error = f"{error}; last error before that: {ours.last_error}"
        attempts = (ours.attempts if ours else 0) + 1
        return error, attempts, ours.first_failed_at if ours else died_at, died_at
    if ours is not None:
        return ours.last_error, ours.attempts, ours.first_failed_at, ours.last_failed_at
    return "dead-lettered without a recorded reason", 0, now, now


def _header_time(value: Any) -> datetime | None:
    """An AMQP timestamp as Lambda renders it ("Nov 28, 2026, 7:37:50 PM", UTC)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            return datetime.strptime(value, "%b %d, %Y, %I:%M:%S %p").replace(tzinfo=UTC)
        except ValueError:
            return None
    return None


# ------------------------------------------------------------------ listing


def list_dead_letters(
    principal: Principal,
    *,
    unit_of_work: Callable[[uuid.UUID], DeadLettersUnitOfWork],
    page: PageRequest,
    status: DeadLetterStatus = DeadLetterStatus.DEAD,
    consumer: str | None = None,
    event_type: str | None = None,
) -> Page[DeadLetter]:
    """The tenant's dead letters, newest first (RLS keeps other tenants' out of reach)."""
    with unit_of_work(principal.tenant_id) as uow:
        return uow.dead_letters.page(
            status=status, consumer=consumer, event_type=event_type, page=page
        )


# ------------------------------------------------------------------ redrive and discard


def redrive_dead_letters(
    principal: Principal,
    selection: RedriveSelection,
    *,
    unit_of_work: Callable[[uuid.UUID], DeadLettersUnitOfWork],
    redriver: Redriver,
    meta: RequestMeta,
    limit: int = REDRIVE_BATCH_LIMIT,
) -> dict[str, Any]:
    """Republish the selected dead letters to their consumers' queues as first deliveries
    and mark them redriven, at most `limit` per call (`remaining` says how many are left).

    Publishing happens before the commit that marks them: if that commit fails, they stay
    dead and a second redrive publishes them again, which the consumers' ledgers absorb.
    Consumers never saw the event succeed (that is why it is dead), so one delivery happens.
    """
    with unit_of_work(principal.tenant_id) as uow:
        letters = uow.dead_letters.lock_for_redrive(selection, limit)
        if selection.ids is not None:
            _check_all_open(selection.ids, letters, uow.dead_letters.statuses)
        if letters:
            redriver.redrive([(queue_of(letter.consumer), letter.envelope) for letter in letters])
            uow.dead_letters.mark_redriven([letter.id for letter in letters], principal.user_id)
            for letter in letters:
                uow.audit.record(_audit(principal, meta, "dead_letter.redriven", letter))
        remaining = 0 if selection.ids is not None else uow.dead_letters.count_open(selection)
        uow.commit()
    metrics.add_metric(name="DeadLettersRedriven", unit="Count", value=len(letters))
    return {"redriven": len(letters), "ids": [str(letter.id) for letter in letters],
            "remaining": remaining}  # fmt: skip


def _check_all_open(
    ids: tuple[uuid.UUID, ...],
    locked: list[DeadLetter],
    statuses: Callable[[list[uuid.UUID]], dict[uuid.UUID, DeadLetterStatus]],
) -> None:
    missing = sorted(set(ids) - {letter.id for letter in locked}, key=str)
    if not missing:
        return
    known = statuses(missing)
    unknown = [i for i in missing if i not in known]
    if unknown:
        raise NotFound(f"dead letter {unknown[0]} not found", ids=[str(i) for i in unknown])
    raise Conflict(f"dead letter {missing[0]} was already redriven", ids=[str(i) for i in missing])


def discard_dead_letter(
    principal: Principal,
    letter_id: uuid.UUID,
    *,
    unit_of_work: Callable[[uuid.UUID], DeadLettersUnitOfWork],
    meta: RequestMeta,
) -> None:
    """Delete an open dead letter for good; the audit entry keeps what it was."""
    with unit_of_work(principal.tenant_id) as uow:
        letter = uow.dead_letters.get(letter_id)
        if letter is None:
            raise NotFound(f"dead letter {letter_id} not found")
        if letter.status is not DeadLetterStatus.DEAD:
            raise Conflict(f"dead letter {letter_id} was already redriven; nothing to discard")
        uow.dead_letters.delete(letter_id)
        uow.audit.record(_audit(principal, meta, "dead_letter.discarded", letter))
        uow.commit()


def _audit(principal: Principal, meta: RequestMeta, action: str, letter: DeadLetter) -> AuditEntry:
    new_status = "redriven" if action == "dead_letter.redriven" else "discarded"
    return AuditEntry(
        tenant_id=principal.tenant_id,
        action=action,
        actor_type=principal.actor_type,
        actor_id=principal.actor_id,
        entity_type="dead_letter",
        entity_id=str(letter.id),
        changes={
            "consumer": letter.consumer,
            "event_id": str(letter.event_id),
            "event_type": letter.event_type,
            "error": letter.error,
            "attempts": letter.attempts,
            "status": {"old": letter.status.value, "new": new_status},
        },
        meta=meta,
    )
