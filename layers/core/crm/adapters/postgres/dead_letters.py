"""Dead letters of one tenant (RLS): stored by the collector, listed, redriven, discarded."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pg8000.native

from crm.domain.dead_letters import DeadLetter, DeadLetterStatus, RedriveSelection
from crm.domain.pagination import Keyset, Page, PageRequest

_COLUMNS = (
    "id, tenant_id, consumer, event_id, event_type, envelope, error, attempts,"
    " first_failed_at, last_failed_at, dead_lettered_at, status, redriven_at, redriven_by"
)
# Optional filters: a NULL parameter matches everything.
_FILTERS = (
    " AND (CAST(:consumer AS text) IS NULL OR consumer = :consumer)"
    " AND (CAST(:event_type AS text) IS NULL OR event_type = :event_type)"
)


def _letter(row: list[Any]) -> DeadLetter:
    (id_, tenant_id, consumer, event_id, event_type, envelope, error, attempts, first_failed_at,
     last_failed_at, dead_lettered_at, status, redriven_at, redriven_by) = row  # fmt: skip
    return DeadLetter(
        id=id_,
        tenant_id=tenant_id,
        consumer=consumer,
        event_id=event_id,
        event_type=event_type,
        envelope=envelope,
        error=error,
        attempts=attempts,
        first_failed_at=first_failed_at,
        last_failed_at=last_failed_at,
        dead_lettered_at=dead_lettered_at,
        status=DeadLetterStatus(status),
        redriven_at=redriven_at,
        redriven_by=redriven_by,
    )


def _keyset(letter: DeadLetter) -> Keyset:
    return Keyset(letter.dead_lettered_at, letter.id)


class PostgresDeadLetters:
    def __init__(self, conn: pg8000.native.Connection) -> None:
        self._conn = conn

    def add(self, letter: DeadLetter) -> bool:
        """Store a dead letter; True if new. The same event dead again for the same consumer
        (a redelivered DLQ message) updates the open row instead of adding one."""
        rows = self._conn.run(
            f"INSERT INTO dead_letters AS d ({_COLUMNS}) VALUES (:id, :tenant_id, :consumer,"
            " :event_id, :event_type, CAST(:envelope AS jsonb), :error, :attempts,"
            " :first_failed_at, :last_failed_at, clock_timestamp(), 'dead', NULL, NULL)"
            " ON CONFLICT (tenant_id, consumer, event_id) WHERE status = 'dead' DO UPDATE SET"
            " envelope = EXCLUDED.envelope, error = EXCLUDED.error,"
            " attempts = GREATEST(d.attempts, EXCLUDED.attempts),"
            " first_failed_at = LEAST(d.first_failed_at, EXCLUDED.first_failed_at),"
            " last_failed_at = GREATEST(d.last_failed_at, EXCLUDED.last_failed_at)"
            " RETURNING (xmax = 0)",
            id=letter.id,
            tenant_id=letter.tenant_id,
            consumer=letter.consumer,
            event_id=letter.event_id,
            event_type=letter.event_type,
            envelope=json.dumps(letter.envelope),
            error=letter.error,
            attempts=letter.attempts,
            first_failed_at=letter.first_failed_at,
            last_failed_at=letter.last_failed_at,
        )
        return bool(rows[0][0])

    def get(self, letter_id: uuid.UUID) -> DeadLetter | None:
        rows = self._conn.run(f"SELECT {_COLUMNS} FROM dead_letters WHERE id = :id", id=letter_id)
        return _letter(rows[0]) if rows else None

    def page(
        self,
        *,
        status: DeadLetterStatus,
        consumer: str | None,
        event_type: str | None,
        page: PageRequest,
    ) -> Page[DeadLetter]:
        """Newest first; `after` continues a listing (keyset pagination on the index)."""
        rows = self._conn.run(
            f"SELECT {_COLUMNS} FROM dead_letters WHERE status = :status{_FILTERS}"
            " AND (CAST(:after_at AS timestamptz) IS NULL"
            "      OR (dead_lettered_at, id) < (CAST(:after_at AS timestamptz), :after_id))"
            " ORDER BY dead_lettered_at DESC, id DESC LIMIT :limit",
            status=status.value,
            consumer=consumer,
            event_type=event_type,
            after_at=page.after.value if page.after else None,
            after_id=page.after.id if page.after else uuid.UUID(int=0),
            limit=page.limit + 1,
        )
        return Page.from_rows([_letter(row) for row in rows], page.limit, _keyset)

    def lock_for_redrive(self, selection: RedriveSelection, limit: int) -> list[DeadLetter]:
        """Open dead letters matching `selection`, locked until commit, oldest first. By
        filter, rows another redrive holds are skipped: concurrent redrives split the work
        instead of publishing the same letters twice."""
        if selection.ids is not None:
            rows = self._conn.run(
                f"SELECT {_COLUMNS} FROM dead_letters"
                " WHERE id = ANY(CAST(:ids AS uuid[])) AND status = 'dead'"
                " ORDER BY dead_lettered_at, id FOR UPDATE",
                ids=[str(i) for i in selection.ids],
            )
        else:
            rows = self._conn.run(
                f"SELECT {_COLUMNS} FROM dead_letters WHERE status = 'dead'{_FILTERS}"
                " ORDER BY dead_lettered_at, id LIMIT :limit FOR UPDATE SKIP LOCKED",
                consumer=selection.consumer,
                event_type=selection.event_type,
                limit=limit,
            )
        return [_letter(row) for row in rows]

    def count_open(self, selection: RedriveSelection) -> int:
        rows = self._conn.run(
            f"SELECT count(*) FROM dead_letters WHERE status = 'dead'{_FILTERS}",
            consumer=selection.consumer,
            event_type=selection.event_type,
        )
        count: int = rows[0][0]
        return count

    def statuses(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, DeadLetterStatus]:
        rows = self._conn.run(
            "SELECT id, status FROM dead_letters WHERE id = ANY(CAST(:ids AS uuid[]))",
            ids=[str(i) for i in ids],
        )
        return {row[0]: DeadLetterStatus(row[1]) for row in rows}

    def mark_redriven(self, ids: list[uuid.UUID], by: uuid.UUID | None) -> None:
        self._conn.run(
            "UPDATE dead_letters SET status = 'redriven', redriven_at = clock_timestamp(),"
            " redriven_by = :by WHERE id = ANY(CAST(:ids AS uuid[])) AND status = 'dead'",
            ids=[str(i) for i in ids],
            by=by,
        )

    def delete(self, letter_id: uuid.UUID) -> None:
        self._conn.run("DELETE FROM dead_letters WHERE id = :id", id=letter_id)
