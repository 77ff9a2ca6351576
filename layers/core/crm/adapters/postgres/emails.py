"""The email ledger, its status history and the suppression list. SQL only; never commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pg8000.native

from crm.domain.emails import (
    Email,
    EmailFilters,
    EmailStatus,
    Recipient,
    StatusChange,
    Suppression,
)
from crm.domain.pagination import Keyset

_COLUMNS = (
    "id, tenant_id, record_kind, record_id, to_address, from_address, purpose, marketing,"
    " sensitive, subject, text_body, html_body, template_id, template_version, status,"
    " status_reason, provider, provider_message_id, attempts, created_by, created_at,"
    " updated_at, sent_at"
)


def _email(row: list[Any], history: tuple[StatusChange, ...] = ()) -> Email:
    (id_, tenant_id, record_kind, record_id, to_address, from_address, purpose, marketing,
     sensitive, subject, text_body, html_body, template_id, template_version, status,
     status_reason, provider, provider_message_id, attempts, created_by, created_at,
     updated_at, sent_at) = row  # fmt: skip
    return Email(
        id=id_,
        tenant_id=tenant_id,
        to=Recipient(to_address, record_kind, record_id),
        from_address=from_address,
        purpose=purpose,
        subject=subject,
        text=text_body,
        html=html_body,
        marketing=marketing,
        sensitive=sensitive,
        template_id=template_id,
        template_version=template_version,
        created_by=created_by,
        status=EmailStatus(status),
        status_reason=status_reason,
        provider=provider,
        provider_message_id=provider_message_id,
        attempts=attempts,
        created_at=created_at,
        updated_at=updated_at,
        sent_at=sent_at,
        history=history,
    )


class PostgresEmails:
    def __init__(self, conn: pg8000.native.Connection) -> None:
        self._conn = conn

    def add(self, email: Email) -> None:
        self._conn.run(
            "INSERT INTO emails (id, tenant_id, record_kind, record_id, to_address,"
            " from_address, purpose, marketing, sensitive, subject, text_body, html_body,"
            " template_id, template_version, status, created_by, created_at, updated_at)"
            " VALUES (:id, :tenant_id, :record_kind, :record_id, :to_address, :from_address,"
            " :purpose, :marketing, :sensitive, :subject, :text_body, :html_body, :template_id,"
            " :template_version, :status, :created_by, :created_at, :created_at)",
            id=email.id,
            tenant_id=email.tenant_id,
            record_kind=email.to.kind,
            record_id=email.to.record_id,
            to_address=email.to.address,
            from_address=email.from_address,
            purpose=email.purpose,
            marketing=email.marketing,
            sensitive=email.sensitive,
            subject=email.subject,
            text_body=email.text,
            html_body=email.html,
            template_id=email.template_id,
            template_version=email.template_version,
            status=email.status.value,
            created_by=email.created_by,
            created_at=email.created_at,
        )
        self._history(email.id, email.tenant_id, email.status.value, None, email.created_at)

    def _history(
        self, email_id: uuid.UUID, tenant_id: uuid.UUID, status: str, reason: str | None, at: Any
    ) -> None:
        self._conn.run(
            "INSERT INTO email_status_history (tenant_id, email_id, status, reason, at)"
            " VALUES (:tenant_id, :email_id, :status, :reason, :at)",
            tenant_id=tenant_id,
            email_id=email_id,
            status=status,
            reason=reason,
            at=at,
        )

    def get(self, email_id: uuid.UUID, *, for_update: bool = False) -> Email | None:
        lock = " FOR UPDATE" if for_update else ""
        rows = self._conn.run(f"SELECT {_COLUMNS} FROM emails WHERE id = :id{lock}", id=email_id)
        if not rows:
            return None
        history = self._conn.run(
            "SELECT status, reason, at FROM email_status_history WHERE email_id = :id ORDER BY id",
            id=email_id,
        )
        return _email(rows[0], tuple(StatusChange(s, r, a) for s, r, a in history))

    def page(self, filters: EmailFilters, limit: int, after: Keyset | None) -> list[Email]:
        where = ["true"]
        params: dict[str, Any] = {"limit": limit}
        if filters.record_kind is not None:
            where.append("record_kind = :record_kind")
            params["record_kind"] = filters.record_kind
        if filters.record_id is not None:
            where.append("record_id = :record_id")
            params["record_id"] = filters.record_id
        if filters.statuses:
            where.append("status = ANY(CAST(:statuses AS text[]))")
            params["statuses"] = list(filters.statuses)
        if filters.template_id is not None:
            where.append("template_id = :template_id")
            params["template_id"] = filters.template_id
        if filters.created_after is not None:
            where.append("created_at >= :created_after")
            params["created_after"] = filters.created_after
        if filters.created_before is not None:
            where.append("created_at < :created_before")
            params["created_before"] = filters.created_before
        if filters.created_by is not None:
            where.append("created_by = :created_by")
            params["created_by"] = filters.created_by
        if after is not None:
            where.append("(created_at, id) < (:after_at, :after_id)")
            params.update(after_at=after.value, after_id=after.id)
        rows = self._conn.run(
            f"SELECT {_COLUMNS} FROM emails WHERE {' AND '.join(where)}"
            " ORDER BY created_at DESC, id DESC LIMIT :limit",
            **params,
        )
        return [_email(row) for row in rows]

    def for_records(
        self, kind: str, record_ids: Sequence[uuid.UUID], after: Keyset | None, limit: int
    ) -> list[Email]:
        params: dict[str, Any] = {"kind": kind, "ids": [str(i) for i in record_ids], "limit": limit}
        keyset = ""
        if after is not None:
            keyset = " AND (created_at, id) < (:after_at, :after_id)"
            params.update(after_at=after.value, after_id=after.id)
        rows = self._conn.run(
            f"SELECT {_COLUMNS} FROM emails WHERE record_kind = :kind"
            f" AND record_id = ANY(CAST(:ids AS uuid[])){keyset}"
            " ORDER BY created_at DESC, id DESC LIMIT :limit",
            **params,
        )
        return [_email(row) for row in rows]

    def record_status(
        self,
        email_id: uuid.UUID,
        status: str,
        reason: str | None,
        at: datetime,
        *,
        provider: str | None = None,
        provider_message_id: str | None = None,
        count_attempt: bool = False,
    ) -> None:
        rows = self._conn.run(
            "UPDATE emails SET status = :status, status_reason = :reason, updated_at = :at,"
            " provider = COALESCE(:provider, provider),"
            " provider_message_id = COALESCE(:provider_message_id, provider_message_id),"
            " attempts = attempts + CASE WHEN :count THEN 1 ELSE 0 END,"
            " sent_at = CASE WHEN :status = 'sent' THEN CAST(:at AS timestamptz) ELSE sent_at END,"
            # a secret link is needed until the message is out, never after
            " text_body = CASE WHEN sensitive AND :status = 'sent' THEN NULL ELSE text_body END,"
            " html_body = CASE WHEN sensitive AND :status = 'sent' THEN NULL ELSE html_body END"
            " WHERE id = :id RETURNING tenant_id",
            id=email_id,
            status=status,
            reason=reason,
            at=at,
            provider=provider,
            provider_message_id=provider_message_id,
            count=count_attempt,
        )
        if rows:
            self._history(email_id, rows[0][0], status, reason, at)

    def scrub(self, address: str, record_ids: Sequence[uuid.UUID]) -> int:
        """GDPR erasure: the emails to this address or these records keep their status and
        dates, lose the address, subject and bodies."""
        rows = self._conn.run(
            "UPDATE emails SET to_address = 'erased@erased.invalid', subject = '[erased]',"
            " text_body = NULL, html_body = NULL, updated_at = now()"
            " WHERE to_address = :address OR record_id = ANY(CAST(:ids AS uuid[]))"
            " RETURNING id",
            address=address.lower(),
            ids=[str(i) for i in record_ids],
        )
        return len(rows)


class PostgresSuppressions:
    def __init__(self, conn: pg8000.native.Connection, tenant_id: uuid.UUID) -> None:
        self._conn = conn
        self._tenant_id = tenant_id

    def reason_for(self, address: str) -> str | None:
        rows = self._conn.run(
            "SELECT reason FROM email_suppressions WHERE address = :address",
            address=address.lower(),
        )
        return str(rows[0][0]) if rows else None

    def add(self, address: str, reason: str, email_id: uuid.UUID | None) -> bool:
        rows = self._conn.run(
            "INSERT INTO email_suppressions (tenant_id, address, reason, email_id)"
            " VALUES (:tenant_id, :address, :reason, :email_id)"
            " ON CONFLICT (tenant_id, address) DO NOTHING RETURNING address",
            tenant_id=self._tenant_id,
            address=address.lower(),
            reason=reason,
            email_id=email_id,
        )
        return bool(rows)

    def page(self, limit: int, after: Keyset | None) -> list[Suppression]:
        where = "true"
        params: dict[str, Any] = {"limit": limit}
        if after is not None:
            where = "(created_at, id) < (:after_at, :after_id)"
            params.update(after_at=after.value, after_id=after.id)
        rows = self._conn.run(
            "SELECT id, address, reason, email_id, created_at FROM email_suppressions"
            f" WHERE {where} ORDER BY created_at DESC, id DESC LIMIT :limit",
            **params,
        )
        return [Suppression(*row) for row in rows]

    def remove(self, address: str) -> bool:
        rows = self._conn.run(
            "DELETE FROM email_suppressions WHERE address = :address RETURNING address",
            address=address.lower(),
        )
        return bool(rows)
