"""The outbox relay: publishes what the post-commit publish missed (crash, broker down), and
prunes what is past its retention period."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from crm.domain.events import CloudEvent
from crm.ports import EventPublisher


class OutboxRelayStore(Protocol):
    def relay_batch(
        self,
        publish: Callable[[list[CloudEvent]], None],
        *,
        older_than_seconds: float,
        limit: int,
    ) -> int: ...

    def prune(
        self, *, outbox_older_than_seconds: float, processed_older_than_seconds: float, limit: int
    ) -> tuple[int, int]: ...


def relay_outbox(
    store: OutboxRelayStore,
    publisher: EventPublisher,
    *,
    older_than_seconds: float = 5.0,
    batch_size: int = 200,
    max_batches: int = 50,
) -> int:
    """Relay until the outbox is drained or `max_batches` ran; returns events published.

    `older_than_seconds` leaves fresh rows to the post-commit publish of the request that
    wrote them, so the common case is not published twice.
    """
    published = 0
    for _ in range(max_batches):
        count = store.relay_batch(
            publisher.publish, older_than_seconds=older_than_seconds, limit=batch_size
        )
        published += count
        if count < batch_size:
            break
    return published


def prune_retained(
    store: OutboxRelayStore,
    *,
    outbox_retention_seconds: float,
    processed_retention_seconds: float,
    batch_size: int = 1000,
    max_batches: int = 10,
) -> tuple[int, int]:
    """Delete published outbox rows and ledger rows past retention, a bounded amount per
    sweep (the schedule comes back every minute). The ledger must outlive every redelivery
    (retries end about 71 minutes after the first attempt), so its retention is days."""
    outbox_total = processed_total = 0
    for _ in range(max_batches):
        outbox, processed = store.prune(
            outbox_older_than_seconds=outbox_retention_seconds,
            processed_older_than_seconds=processed_retention_seconds,
            limit=batch_size,
        )
        outbox_total += outbox
        processed_total += processed
        if outbox < batch_size and processed < batch_size:
            break
    return outbox_total, processed_total
