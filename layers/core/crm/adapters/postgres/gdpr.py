"""The copies of a person's data outside the record rows: history values, notes, events in the
outbox and dead letters, stored Idempotency-Key responses. SQL only; never commits. Every read
and write is scoped to the transaction's tenant by row-level security."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import pg8000.native

from crm.domain.gdpr import (
    ERASED,
    is_personal,
    scrub_envelope,
    scrub_record,
    scrub_response,
)


class PostgresPersonalData:
    def __init__(self, conn: pg8000.native.Connection) -> None:
        self._conn = conn

    def record_ids_by_email(self, email: str) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
        """(lead ids, contact ids) with this email, deleted ones included."""
        leads = self._conn.run("SELECT id FROM leads WHERE email = :e ORDER BY created_at", e=email)
        contacts = self._conn.run(
            "SELECT id FROM contacts WHERE email = :e ORDER BY created_at", e=email
        )
        return [row[0] for row in leads], [row[0] for row in contacts]

    def deal_ids_of(
        self, lead_ids: Sequence[uuid.UUID], contact_ids: Sequence[uuid.UUID]
    ) -> list[uuid.UUID]:
        rows = self._conn.run(
            "SELECT id FROM deals WHERE lead_id = ANY(CAST(:leads AS uuid[]))"
            " OR contact_id = ANY(CAST(:contacts AS uuid[])) ORDER BY created_at",
            leads=[str(i) for i in lead_ids],
            contacts=[str(i) for i in contact_ids],
        )
        return [row[0] for row in rows]

    def scrub_history(self, lead_ids: Sequence[uuid.UUID], contact_ids: Sequence[uuid.UUID]) -> int:
        rows = self._conn.run(
            "SELECT id, field, old_value, new_value FROM record_history"
            " WHERE lead_id = ANY(CAST(:leads AS uuid[]))"
            " OR contact_id = ANY(CAST(:contacts AS uuid[]))",
            leads=[str(i) for i in lead_ids],
            contacts=[str(i) for i in contact_ids],
        )
        changed = 0
        for row_id, field, old, new in rows:
            if field is None:  # a whole-record row: the record's values
                new_old, new_new = _scrub_json(old), _scrub_json(new)
            elif is_personal(field):
                new_old, new_new = _erased_json(old), _erased_json(new)
            else:
                continue
            self._conn.run(
                "UPDATE record_history SET old_value = CAST(:old AS jsonb),"
                " new_value = CAST(:new AS jsonb) WHERE id = :id",
                id=row_id,
                old=_dump(new_old),
                new=_dump(new_new),
            )
            changed += 1
        return changed

    def scrub_notes(self, lead_ids: Sequence[uuid.UUID], contact_ids: Sequence[uuid.UUID]) -> int:
        rows = self._conn.run(
            "UPDATE notes SET body = :erased WHERE (lead_id = ANY(CAST(:leads AS uuid[]))"
            " OR contact_id = ANY(CAST(:contacts AS uuid[]))) AND body <> :erased RETURNING 1",
            erased=ERASED,
            leads=[str(i) for i in lead_ids],
            contacts=[str(i) for i in contact_ids],
        )
        return len(rows)

    def scrub_events(self, subjects: Sequence[str]) -> int:
        """Outbox rows, archived events and dead letters of events about these subjects
        (leads/<id>, ...)."""
        changed = self._rewrite(
            "SELECT id, envelope FROM outbox WHERE aggregate = ANY(CAST(:subjects AS text[]))",
            "UPDATE outbox SET envelope = CAST(:value AS jsonb) WHERE id = :id",
            scrub_envelope,
            subjects=list(subjects),
        )
        changed += self._rewrite(
            "SELECT id, envelope FROM event_archive WHERE subject = ANY(CAST(:subjects AS text[]))",
            "UPDATE event_archive SET envelope = CAST(:value AS jsonb) WHERE id = :id",
            scrub_envelope,
            subjects=list(subjects),
        )
        changed += self._rewrite(
            "SELECT id, envelope FROM dead_letters"
            " WHERE envelope->>'subject' = ANY(CAST(:subjects AS text[]))",
            "UPDATE dead_letters SET envelope = CAST(:value AS jsonb) WHERE id = :id",
            scrub_envelope,
            subjects=list(subjects),
        )
        return changed

    def scrub_stored_responses(self, record_ids: Sequence[uuid.UUID]) -> int:
        """Idempotency-Key responses that hold these records (a retry replays them)."""
        ids = [str(i) for i in record_ids]
        return self._rewrite(
            "SELECT key, response FROM idempotency_keys WHERE response->>'id' = ANY(CAST(:ids AS text[]))"
            " OR response->'lead'->>'id' = ANY(CAST(:ids AS text[]))"
            " OR response->'contact'->>'id' = ANY(CAST(:ids AS text[]))",
            "UPDATE idempotency_keys SET response = CAST(:value AS json) WHERE key = :id",
            scrub_response,
            ids=ids,
        )

    def _rewrite(
        self,
        select: str,
        update: str,
        scrub: Callable[[dict[str, Any]], dict[str, Any]],
        **params: Any,
    ) -> int:
        changed = 0
        for row_id, value in self._conn.run(select, **params):
            scrubbed = scrub(value)
            if scrubbed != value:
                self._conn.run(update, id=row_id, value=_dump(scrubbed))
                changed += 1
        return changed


def _scrub_json(value: Any) -> Any:
    return scrub_record(value) if isinstance(value, dict) else value


def _erased_json(value: Any) -> Any:
    if value is None:
        return None
    return {} if isinstance(value, dict) else ERASED


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str)
