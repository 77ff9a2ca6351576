"""The webhook worker's effect: one event to every active endpoint of its tenant that
subscribed to its type, signed per Standard Webhooks, each endpoint once.

It runs inside consume_batch (crm.services.consuming): the ledger row "webhook handled E"
commits only when every endpoint got the event. The per-endpoint delivery rows commit in
their own transactions, before and after each POST, so they survive the failure of another
endpoint: when one endpoint fails, the handler raises, consume_batch sends the event through
the delay queues, and the retry skips the endpoints whose row says delivered. A crash between
a receiver's 2xx and the row's commit sends again, with the same webhook-id (the delivery
row's id), which receivers deduplicate: at least once, with a stable id.

On the last attempt the schedule allows, a failing endpoint's row is marked failed before the
event goes to the dead-letter queue; a redrive sends it again (status back to delivered when
it then succeeds).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from crm.domain.events import CloudEvent
from crm.domain.messaging import InboundMessage
from crm.domain.webhooks import AttemptResult, WebhookEndpoint, secret_context, signed_headers
from crm.ports import SecretCipher, UnitOfWork, UnitOfWorkFactory
from crm.services.consuming import Consumer


class WebhookTransport(Protocol):
    def post(self, url: str, body: bytes, headers: dict[str, str]) -> AttemptResult: ...


class WebhookDeliveriesFailed(Exception):
    """Some endpoints did not take the event; consume_batch retries it later. Raised outside
    any `except` block on purpose: a transport error in its context would make the consumer
    framework take it for an outage of a dependency and fail the whole batch."""


@dataclass
class DeliveryReport:
    delivered: int = 0
    skipped: int = 0  # delivered on an earlier attempt
    failed: int = 0


def _utcnow() -> datetime:
    return datetime.now(UTC)


def final_attempts(messages: Iterable[InboundMessage], consumer: Consumer) -> set[uuid.UUID]:
    """The events of the batch on their last attempt: failing now sends them to the
    dead-letter queue (consume_batch counts attempts the same way)."""
    last: set[uuid.UUID] = set()
    now = consumer.clock()
    for message in messages:
        if message.event is None:
            continue
        attempts = message.failure_after(consumer.name, "", now).attempts
        if consumer.schedule.delay_after(attempts) is None:
            last.add(message.event.id)
    return last


def deliver_event(
    event: CloudEvent,
    uow: UnitOfWork,
    *,
    unit_of_work: UnitOfWorkFactory,
    cipher: SecretCipher,
    transport: WebhookTransport,
    final_attempt: bool = False,
    clock: Callable[[], datetime] = _utcnow,
) -> DeliveryReport:
    report = DeliveryReport()
    endpoints = [e for e in uow.webhook_endpoints.active() if e.subscribes_to(event.type)]
    if not endpoints:
        return report
    body = event.to_json()
    failures: list[str] = []
    for endpoint in endpoints:
        outcome = _deliver_to(endpoint, event, body, unit_of_work, cipher, transport,
                              final_attempt, clock)  # fmt: skip
        if outcome is None:
            report.skipped += 1
        elif outcome.delivered:
            report.delivered += 1
        else:
            report.failed += 1
            failures.append(f"endpoint {endpoint.id}: {outcome.error}")
    if failures:
        raise WebhookDeliveriesFailed("; ".join(failures))
    return report


def _deliver_to(
    endpoint: WebhookEndpoint,
    event: CloudEvent,
    body: bytes,
    unit_of_work: UnitOfWorkFactory,
    cipher: SecretCipher,
    transport: WebhookTransport,
    final_attempt: bool,
    clock: Callable[[], datetime],
) -> AttemptResult | None:
    """One endpoint's attempt, recorded; None when an earlier attempt delivered it."""
    with unit_of_work(event.tenant_id) as side:
        delivery = side.webhook_deliveries.open(endpoint.id, event.id, event.type, clock())
        side.commit()
    if delivery.status == "delivered":
        return None
    secret = cipher.decrypt(endpoint.secret_encrypted, context=secret_context(endpoint.id))
    sent_at = clock()
    headers = signed_headers(secret, str(delivery.id), int(sent_at.timestamp()), body)
    result = transport.post(endpoint.url, body, headers)
    with unit_of_work(event.tenant_id) as side:
        side.webhook_deliveries.record_attempt(
            delivery.id,
            at=sent_at,
            status_code=result.status_code,
            error=result.error,
            delivered=result.delivered,
            give_up=final_attempt and not result.delivered,
        )
        side.commit()
    return result
