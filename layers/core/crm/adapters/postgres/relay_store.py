"""The outbox as the relay sees it: every tenant's unpublished rows (crm_relay role only)."""

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
