"""The outbox as the relay sees it: every tenant's unpublished rows, and the retention
pruning of published rows and of the consumers' processed-events ledger (crm_relay only)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable

from crm.adapters.postgres.connection import ConnectionPool
from crm.adapters.postgres.repositories import PostgresOutbox
from crm.domain.events import CloudEvent


class PostgresOutboxRelayStore:
    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def relay_batch(
        self,
        publish: Callable[[list[CloudEvent]], None],
        *,
        older_than_seconds: float,
        limit: int,
    ) -> int:
        """Claim up to `limit` rows (locked, so concurrent relays split the work), publish
        them, mark them; a publish failure leaves them unpublished with the error recorded."""
        with self._pool.connection() as conn:
            outbox = PostgresOutbox(conn)
            conn.run("BEGIN")
            try:
                envelopes = outbox.claim_unpublished(older_than_seconds, limit)
                events = [CloudEvent.from_dict(envelope) for envelope in envelopes]
                ids: list[uuid.UUID] = [event.id for event in events]
                if events:
                    try:
                        publish(events)
                    except Exception as error:
                        outbox.record_failure(ids, f"{type(error).__name__}: {error}")
                        conn.run("COMMIT")
                        raise
                    outbox.mark_published(ids)
                conn.run("COMMIT")
            except BaseException:
                # Already failing; if the connection is broken the pool drops it on release.
                with contextlib.suppress(Exception):
                    conn.run("ROLLBACK")
                raise
        return len(events)

    def prune(self, *, outbox_older_than_seconds: float, processed_older_than_seconds: float,
              limit: int) -> tuple[int, int]:  # fmt: skip
        """Delete up to `limit` published outbox rows and `limit` ledger rows past their
        retention; returns (outbox rows, ledger rows). Bounded so one sweep never holds
        locks for long; the next sweep continues. (Ledger rows that old are touched only by
        a very late duplicate, which a concurrent delete merely makes wait.)"""
        with self._pool.connection() as conn:
            conn.run(
                "WITH doomed AS (SELECT id FROM outbox WHERE published_at"
                "  < clock_timestamp() - make_interval(secs => :age)"
                "  ORDER BY published_at LIMIT :limit FOR UPDATE SKIP LOCKED)"
                " DELETE FROM outbox o USING doomed WHERE o.id = doomed.id",
                age=outbox_older_than_seconds,
                limit=limit,
            )
            outbox_count = conn.row_count
            conn.run(
                "WITH doomed AS (SELECT tenant_id, consumer, event_id FROM processed_events"
                "  WHERE processed_at < clock_timestamp() - make_interval(secs => :age)"
                "  ORDER BY processed_at LIMIT :limit)"
                " DELETE FROM processed_events p USING doomed WHERE p.tenant_id = doomed.tenant_id"
                " AND p.consumer = doomed.consumer AND p.event_id = doomed.event_id",
                age=processed_older_than_seconds,
                limit=limit,
            )
            return outbox_count, conn.row_count

    def oldest_unpublished_age_seconds(self) -> float:
        """How long the oldest unpublished outbox row has waited (0 when none): the alarm
        OutboxAgeAlarm watches it, published by the sweep as a metric."""
        with self._pool.connection() as conn:
            rows = conn.run(
                "SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)"
                " FROM outbox WHERE published_at IS NULL"
            )
        return float(rows[0][0])
