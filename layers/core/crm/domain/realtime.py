"""Real-time updates over the WebSocket API: who may hear of an event, and what they hear.

A message tells a connected client THAT something changed, not what it now holds: its `data`
keeps only identifiers, statuses and versions (never names, emails, phones, notes, amounts or
custom fields), and the client refetches the record through the REST API, which applies every
rule of the caller's role. So a message can never leak personal data, even to a listener the
filter below lets through.

The filter mirrors the REST API's read rules, with the listener's CURRENT role (read from the
database per batch, not the role it connected with):
- the event's resource must be readable by the role (`leads:read` for crm.lead.*, ...; an API
  key also needs the scope); events of kinds that map to no resource (none in the catalog
  today) go only to roles that administer the tenant (`tenant_settings:update`);
- a notification (crm.notification.*) reaches the connections of the user it is for only;
- a role limited to its own records (sellers) hears of a lead, contact or deal only when it
  owns it or nobody does; an assignment event reaches both the previous and the new owner;
  an event that names no owner at all reaches such a role never (fail closed).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from crm.domain.events import CloudEvent
from crm.domain.tenants import RoleGrant

# crm.<kind>.<action> -> the resource whose read permission the listener needs
EVENT_RESOURCES: Final[dict[str, str]] = {
    "lead": "leads",
    "contact": "contacts",
    "deal": "deals",
    "pipeline": "pipelines",
    "automation": "automations",
}
ADMINISTER: Final = "tenant_settings:update"
# Records a role limited to its own records reaches only when it owns them (or nobody does).
OWNED_KINDS: Final = frozenset({"lead", "contact", "deal"})
_OWNER_KEYS: Final = ("owner_id", "from_owner_id", "to_owner_id")
# Scalar fields a message keeps: identifiers, statuses, versions. Anything else is dropped.
_KEPT_NAMES: Final = frozenset({"id", "status", "version", "stage", "outcome"})
_KEPT_SUFFIXES: Final = ("_id", "_status", "_stage")
# The record snapshots an event may carry (data.lead, data.deal, ...): their ids and statuses
# are kept too. Other nested objects (custom_fields, changes) are dropped whole: their keys
# are the tenant's own and their values may be anything.
_RECORD_KEYS: Final = frozenset(EVENT_RESOURCES)


class ConnectionGone(Exception):
    """The connection is closed (the Management API answers 410 GoneException)."""


@dataclass(frozen=True)
class Listener:
    """An open connection and what its caller may read now."""

    connection_id: str
    user_id: uuid.UUID
    grant: RoleGrant
    api_key_id: uuid.UUID | None = None
    scopes: frozenset[str] | None = None  # an API key's scopes; None for a user's token


@dataclass(frozen=True)
class ConnectionRow:
    """A stored connection joined with its user's current role and status."""

    connection_id: str
    user_id: uuid.UUID
    api_key_id: uuid.UUID | None
    scopes: frozenset[str] | None
    role: str
    user_status: str
    connected_at: datetime


def event_kind(event_type: str) -> str:
    """crm.lead.created -> lead"""
    parts = event_type.split(".")
    return parts[1] if len(parts) >= 3 and parts[0] == "crm" else ""


def _permissions(listener: Listener) -> frozenset[str]:
    granted = listener.grant.permissions
    return granted if listener.scopes is None else granted & listener.scopes


def event_owners(data: Mapping[str, Any]) -> set[uuid.UUID | None] | None:
    """Every owner an event names (top level and its record snapshots), None when it names
    none. A value that is not an id counts as naming no one (fail closed for sellers)."""
    owners: set[uuid.UUID | None] = set()
    found = False
    records = [data[k] for k in _RECORD_KEYS if isinstance(data.get(k), Mapping)]
    for candidate in [data, *records]:
        for key in _OWNER_KEYS:
            if key not in candidate:
                continue
            value = candidate[key]
            if value is None:
                owners.add(None)
                found = True
                continue
            try:
                owners.add(uuid.UUID(str(value)))
                found = True
            except ValueError:
                continue
    return owners if found else None


def may_receive(listener: Listener, event: CloudEvent) -> bool:
    kind = event_kind(event.type)
    if kind == "notification":  # personal: its user only, whatever the role
        return str(listener.user_id) == str(event.data.get("user_id"))
    resource = EVENT_RESOURCES.get(kind)
    permissions = _permissions(listener)
    if resource is None:
        return ADMINISTER in permissions
    if f"{resource}:read" not in permissions:
        return False
    if kind in OWNED_KINDS and listener.grant.own_records_only:
        owners = event_owners(event.data)
        return owners is not None and bool(owners & {None, listener.user_id})
    return True


def _compact(value: Mapping[str, Any], top: bool) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, Mapping):
            if top and key in _RECORD_KEYS:
                kept[key] = _compact(item, False)
        elif (key in _KEPT_NAMES or key.endswith(_KEPT_SUFFIXES)) and (
            item is None or isinstance(item, str | int | bool)
        ):
            kept[key] = item
    return kept


def compact_message(event: CloudEvent) -> dict[str, Any]:
    """{type, subject, id, time, data}: data holds only ids, statuses and versions."""
    return {
        "type": event.type,
        "subject": event.subject,
        "id": str(event.id),
        "time": event.time.isoformat().replace("+00:00", "Z"),
        "data": _compact(event.data, True),
    }
