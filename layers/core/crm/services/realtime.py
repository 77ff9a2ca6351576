"""Real-time updates: the WebSocket connection lifecycle and the notifier's fan-out.

$connect stores the connection under the caller the authorizer established, $disconnect
deletes it, $default answers `{"action": "ping"}` with a pong. The notifier (q.realtime) posts
each event's compact message (crm.domain.realtime.compact_message: ids and statuses, no
personal data) to every connection of the event's tenant whose user may read it now; a
connection the Management API reports gone is deleted in the same transaction, and any other
failure propagates so the consumer framework retries the event (a retry may post a message a
second time to the connections that already got it; each message carries the event id).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from crm.domain.events import CloudEvent
from crm.domain.permissions import BUILTIN_GRANTS, NO_GRANT
from crm.domain.realtime import ConnectionGone, Listener, compact_message, may_receive
from crm.domain.tenants import RoleGrant, builtin_role
from crm.ports import RealtimeUnitOfWork

MAX_MESSAGE_BYTES = 32 * 1024  # API Gateway's WebSocket frame limit is 32 KB


class ConnectionSender(Protocol):
    def post(self, connection_id: str, payload: bytes) -> None:
        """Sends `payload` to the connection; ConnectionGone when it is closed."""
        ...


@dataclass(frozen=True)
class ConnectionCaller:
    """The authorizer's context of a connection (it reaches every route of the connection)."""

    tenant_id: uuid.UUID
    user_id: uuid.UUID
    api_key_id: uuid.UUID | None
    scopes: frozenset[str] | None

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> ConnectionCaller:
        """API Gateway context values are strings; KeyError/ValueError when malformed."""
        key = context.get("api_key_id")
        return cls(
            tenant_id=uuid.UUID(str(context["tenant_id"])),
            user_id=uuid.UUID(str(context["user_id"])),
            api_key_id=uuid.UUID(str(key)) if key else None,
            scopes=frozenset(str(context.get("scopes") or "").split()) if key else None,
        )


def connect(
    uow: RealtimeUnitOfWork, connection_id: str, caller: ConnectionCaller, at: datetime
) -> None:
    uow.ws_connections.add(connection_id, caller.user_id, caller.api_key_id, caller.scopes, at)
    uow.commit()


def disconnect(uow: RealtimeUnitOfWork, connection_id: str) -> bool:
    removed = uow.ws_connections.remove(connection_id)
    uow.commit()
    return removed


def touch(uow: RealtimeUnitOfWork, connection_id: str, at: datetime) -> None:
    """The client pinged: the connection is alive at `at`."""
    uow.ws_connections.touch(connection_id, at)
    uow.commit()


def answer(body: str | None) -> dict[str, Any]:
    """The reply to a client's message: ping -> pong; anything else -> an error message."""
    try:
        message = json.loads(body or "")
    except ValueError:
        message = None
    if isinstance(message, dict) and message.get("action") == "ping":
        return {"type": "pong"}
    return {"type": "error", "message": 'unknown message; send {"action": "ping"}'}


# ------------------------------------------------------------------ the notifier


def grant_of_role(uow: RealtimeUnitOfWork, role: str) -> RoleGrant:
    builtin = builtin_role(role)
    if builtin is not None:
        return BUILTIN_GRANTS[builtin]
    custom = uow.custom_roles.get(role)
    return custom.grant if custom is not None else NO_GRANT


def listeners(uow: RealtimeUnitOfWork) -> list[Listener]:
    """The tenant's connections with their users' current grants; a deactivated user's
    connections hear nothing."""
    grants: dict[str, RoleGrant] = {}
    found: list[Listener] = []
    for row in uow.ws_connections.listeners():
        if row.user_status != "active":
            continue
        if row.role not in grants:
            grants[row.role] = grant_of_role(uow, row.role)
        found.append(
            Listener(row.connection_id, row.user_id, grants[row.role], row.api_key_id, row.scopes)
        )
    return found


@dataclass
class Audience:
    """Per batch: each tenant's listeners, read once (users and roles included)."""

    by_tenant: dict[uuid.UUID, list[Listener]] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)

    def of(self, uow: RealtimeUnitOfWork, tenant_id: uuid.UUID) -> list[Listener]:
        if tenant_id not in self.by_tenant:
            self.by_tenant[tenant_id] = listeners(uow)
        return [lst for lst in self.by_tenant[tenant_id] if lst.connection_id not in self.gone]


@dataclass
class NotifyReport:
    sent: int = 0
    filtered: int = 0
    gone: int = 0


def encode_message(event: CloudEvent) -> bytes:
    payload = json.dumps(compact_message(event), separators=(",", ":")).encode()
    if len(payload) > MAX_MESSAGE_BYTES:  # only ids are kept: a sign of a malformed event
        raise ValueError(f"message of {event.type} is {len(payload)} bytes")
    return payload


def notify(
    event: CloudEvent, uow: RealtimeUnitOfWork, *, audience: Audience, sender: ConnectionSender
) -> NotifyReport:
    report = NotifyReport()
    payload = encode_message(event)
    for listener in audience.of(uow, event.tenant_id):
        if not may_receive(listener, event):
            report.filtered += 1
            continue
        try:
            sender.post(listener.connection_id, payload)
        except ConnectionGone:
            uow.ws_connections.remove(listener.connection_id)
            audience.gone.add(listener.connection_id)
            report.gone += 1
        else:
            report.sent += 1
    return report
