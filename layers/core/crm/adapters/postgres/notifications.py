"""Notifications and notification preferences. SQL only; never commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pg8000.native

from crm.domain.notifications import Notification
from crm.domain.pagination import Keyset

_COLUMNS = "id, tenant_id, user_id, kind, title, source_key, link, created_at, read_at"


def _notification(row: list[Any]) -> Notification:
    id_, tenant_id, user_id, kind, title, source_key, link, created_at, read_at = row
    return Notification(
        id=id_, tenant_id=tenant_id, user_id=user_id, kind=kind, title=title,
        source_key=source_key, link=link, created_at=created_at, read_at=read_at,
    )  # fmt: skip


class PostgresNotifications:
    def __init__(self, conn: pg8000.native.Connection, tenant_id: uuid.UUID) -> None:
        self._conn = conn
        self._tenant_id = tenant_id

    def add(self, notification: Notification) -> bool:
        """False when this user already has this kind of notification for this source."""
        rows = self._conn.run(
            f"INSERT INTO notifications ({_COLUMNS}) VALUES (:id, :tenant_id, :user_id, :kind,"
            " :title, :source_key, :link, :created_at, NULL)"
            " ON CONFLICT (user_id, kind, source_key) DO NOTHING RETURNING id",
            id=notification.id, tenant_id=notification.tenant_id, user_id=notification.user_id,
            kind=notification.kind, title=notification.title,
            source_key=notification.source_key, link=notification.link,
            created_at=notification.created_at,
        )  # fmt: skip
        return bool(rows)

    def page(
        self, user_id: uuid.UUID, unread_only: bool, limit: int, after: Keyset | None
    ) -> list[Notification]:
        where = ["user_id = :user_id"]
        params: dict[str, Any] = {"user_id": user_id, "limit": limit}
        if unread_only:
            where.append("read_at IS NULL")
        if after is not None:
            where.append("(created_at, id) < (:after_at, :after_id)")
            params.update(after_at=after.value, after_id=after.id)
        rows = self._conn.run(
            f"SELECT {_COLUMNS} FROM notifications WHERE {' AND '.join(where)}"
            " ORDER BY created_at DESC, id DESC LIMIT :limit",
            **params,
        )
        return [_notification(row) for row in rows]

    def mark_read(self, user_id: uuid.UUID, notification_id: uuid.UUID, at: datetime) -> bool:
        """False when the user has no such notification."""
        rows = self._conn.run(
            "UPDATE notifications SET read_at = COALESCE(read_at, :at)"
            " WHERE id = :id AND user_id = :user_id RETURNING id",
            id=notification_id,
            user_id=user_id,
            at=at,
        )
        return bool(rows)

    def mark_all_read(self, user_id: uuid.UUID, at: datetime) -> int:
        rows = self._conn.run(
            "UPDATE notifications SET read_at = :at WHERE user_id = :user_id"
            " AND read_at IS NULL RETURNING id",
            user_id=user_id,
            at=at,
        )
        return len(rows)

    def unread_count(self, user_id: uuid.UUID) -> int:
        rows = self._conn.run(
            "SELECT count(*) FROM notifications WHERE user_id = :u AND read_at IS NULL", u=user_id
        )
        return int(rows[0][0])

    def muted_kinds(self, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, frozenset[str]]:
        rows = self._conn.run(
            "SELECT user_id, muted_kinds FROM notification_preferences"
            " WHERE user_id = ANY(CAST(:ids AS uuid[]))",
            ids=[str(i) for i in user_ids],
        )
        return {row[0]: frozenset(row[1] or []) for row in rows}

    def set_muted_kinds(self, user_id: uuid.UUID, kinds: Sequence[str]) -> None:
        self._conn.run(
            "INSERT INTO notification_preferences (tenant_id, user_id, muted_kinds)"
            " VALUES (:tenant_id, :user_id, CAST(:kinds AS text[]))"
            " ON CONFLICT (user_id) DO UPDATE SET muted_kinds = EXCLUDED.muted_kinds,"
            " updated_at = now()",
            tenant_id=self._tenant_id,
            user_id=user_id,
            kinds=list(kinds),
        )

    def administrators(self) -> list[uuid.UUID]:
        """The tenant's active owners and admins (they hear of dead letters, failed runs)."""
        rows = self._conn.run(
            "SELECT id FROM users WHERE role IN ('owner', 'admin') AND status = 'active'"
        )
        return [row[0] for row in rows]

    def is_active_user(self, user_id: uuid.UUID) -> bool:
        rows = self._conn.run(
            "SELECT 1 FROM users WHERE id = :id AND status = 'active'", id=user_id
        )
        return bool(rows)
