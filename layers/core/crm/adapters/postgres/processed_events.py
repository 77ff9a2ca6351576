"""The consumers' processed-events ledger: "consumer X handled event E", one row each."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping

import pg8000.native


class PostgresProcessedEvents:
    def __init__(self, conn: pg8000.native.Connection, tenant_id: uuid.UUID) -> None:
        self._conn = conn
        self._tenant_id = tenant_id

    def claim(self, consumer: str, event_id: uuid.UUID) -> bool:
        """True when this transaction is the first to handle the event. A concurrent
        duplicate blocks on the key until that transaction ends: after a commit it gets
        False (and the duplicate is counted), after a rollback it claims the event itself.
        `xmax = 0` tells an inserted row from an updated one."""
        rows = self._conn.run(
            "INSERT INTO processed_events AS p (tenant_id, consumer, event_id)"
            " VALUES (:tenant_id, :consumer, :event_id)"
            " ON CONFLICT (tenant_id, consumer, event_id)"
            " DO UPDATE SET duplicate_deliveries = p.duplicate_deliveries + 1"
            " RETURNING (xmax = 0)",
            tenant_id=self._tenant_id,
            consumer=consumer,
            event_id=event_id,
        )
        return bool(rows[0][0])

    def handled(self, consumer: str, event_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
        rows = self._conn.run(
            "SELECT event_id FROM processed_events"
            " WHERE consumer = :consumer AND event_id = ANY(CAST(:ids AS uuid[]))",
            consumer=consumer,
            ids=[str(i) for i in event_ids],
        )
        return {row[0] for row in rows}

    def record(self, consumer: str, deliveries: Mapping[uuid.UUID, int]) -> set[uuid.UUID]:
        """One statement for the whole batch; repeats within the batch and earlier records
        both count as duplicate deliveries."""
        if not deliveries:
            return set()
        rows = self._conn.run(
            "INSERT INTO processed_events AS p (tenant_id, consumer, event_id,"
            " duplicate_deliveries)"
            " SELECT :tenant_id, :consumer, d.id, d.n - 1"
            " FROM unnest(CAST(:ids AS uuid[]), CAST(:counts AS int[])) AS d(id, n)"
            " ON CONFLICT (tenant_id, consumer, event_id) DO UPDATE SET"
            " duplicate_deliveries = p.duplicate_deliveries + EXCLUDED.duplicate_deliveries + 1"
            " RETURNING event_id, (xmax = 0)",
            tenant_id=self._tenant_id,
            consumer=consumer,
            ids=[str(i) for i in deliveries],
            counts=list(deliveries.values()),
        )
        return {row[0] for row in rows if row[1]}
