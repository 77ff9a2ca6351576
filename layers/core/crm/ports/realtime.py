"""Ports of open WebSocket connections."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Protocol

from crm.domain.realtime import ConnectionRow
from crm.ports.tenancy import CustomRoleRepository
from crm.ports.transaction import TransactionScope


class WsConnectionRepository(Protocol):
    """Open WebSocket connections of the unit of work's tenant (crm.services.realtime)."""

    def add(
        self,
        connection_id: str,
        user_id: uuid.UUID,
        api_key_id: uuid.UUID | None,
        scopes: Collection[str] | None,
        at: datetime,
    ) -> None: ...
    def remove(self, connection_id: str) -> bool: ...
    def touch(self, connection_id: str, at: datetime) -> bool: ...
    def listeners(self) -> list[ConnectionRow]: ...


class RealtimeUnitOfWork(TransactionScope, Protocol):
    """Connections and the custom roles that decide what a connection may see
    (crm.services.realtime)."""

    @property
    def ws_connections(self) -> WsConnectionRepository: ...
    @property
    def custom_roles(self) -> CustomRoleRepository: ...
