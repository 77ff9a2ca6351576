"""Ports of the notifications context."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from crm.domain.notifications import Notification
from crm.domain.pagination import Keyset


class NotificationRepository(Protocol):
    def add(self, notification: Notification) -> bool: ...
    def page(
        self, user_id: uuid.UUID, unread_only: bool, limit: int, after: Keyset | None
    ) -> list[Notification]: ...
    def mark_read(self, user_id: uuid.UUID, notification_id: uuid.UUID, at: datetime) -> bool: ...
    def mark_all_read(self, user_id: uuid.UUID, at: datetime) -> int: ...
    def unread_count(self, user_id: uuid.UUID) -> int: ...
    def muted_kinds(self, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, frozenset[str]]: ...
    def set_muted_kinds(self, user_id: uuid.UUID, kinds: Sequence[str]) -> None: ...
    def administrators(self) -> list[uuid.UUID]: ...
    def is_active_user(self, user_id: uuid.UUID) -> bool: ...


class NotificationsUnitOfWork(Protocol):
    tenant_id: uuid.UUID
    notifications: NotificationRepository
