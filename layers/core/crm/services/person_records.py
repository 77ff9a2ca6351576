"""The use cases leads and contacts share, written once: load (the sellers' rule), read, list,
create's common checks and rows, edit, tag, soft delete, restore and history.

Each flow takes a PersonSpec: the record kind, its repository in the unit of work, the fields
a PATCH sets as given, and what a kind adds to an edit (the lead's status rules and events).
What only one kind has (lead status, merge, convert, import; a contact's lead link) stays in
crm.services.leads / crm.services.contacts, which bind these flows to their spec under their
public names (get_lead, list_contacts, ...).

The rules themselves (owner, tags, category, custom fields, duplicates, history, audit) live
in crm.services.records; this module only fixes the order in which a use case applies them,
which is what API responses, history rows, events and audit rows depend on.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

from crm.domain.concurrency import Precondition
from crm.domain.events import CloudEvent
from crm.domain.pagination import Page, PageRequest
from crm.domain.person_records import BOOKKEEPING_FIELDS
from crm.domain.records import (
    Change,
    HistoryEntry,
    RecordFilters,
    RecordKind,
    RecordSort,
    changed_fields,
)
from crm.domain.tenants import Principal
from crm.ports import UnitOfWork, UnitOfWorkFactory
from crm.services.idempotency import claim_key
from crm.services.pipelines import visible_to
from crm.services.records import (
    audit,
    check_category,
    check_owner,
    check_tags,
    custom_filter,
    custom_values,
    ensure_unique,
    may_see,
    not_found,
    record_values,
    write_history,
)
from crm.services.request_context import RequestContext

Changes = dict[str, dict[str, Any]]


class PersonRecord(Protocol):
    """What the shared flows use of a Lead or a Contact."""

    id: uuid.UUID
    owner_id: uuid.UUID | None
    email: str | None
    phone: str | None
    tags: list[str]
    category: str | None
    custom_fields: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None

    def to_dict(self) -> dict[str, Any]: ...
    def audited(self) -> dict[str, Any]: ...
    def event(self, event_type: str, correlation_id: str | None, **extra: Any) -> CloudEvent: ...


R = TypeVar("R", bound=PersonRecord)


class PersonRepository(Protocol[R]):
    """What the shared flows use of crm.ports.LeadRepository / ContactRepository."""

    def add(self, record: R, /) -> None: ...
    def get(
        self, record_id: uuid.UUID, /, *, for_update: bool = False, include_deleted: bool = False
    ) -> R | None: ...
    def update(self, record: R, /) -> None: ...
    def find(self, filters: RecordFilters, sort: RecordSort, page: PageRequest, /) -> Page[R]: ...
    def lock_identities(self, keys: Sequence[str], /) -> None: ...
    def find_duplicate(
        self, email: str | None, phone_digits: str | None, exclude_id: uuid.UUID | None, /
    ) -> tuple[uuid.UUID, str] | None: ...


class NewPerson(Protocol):
    """What the shared creation checks read of a NewLead / NewContact."""

    @property
    def name(self) -> str: ...
    @property
    def email(self) -> str | None: ...
    @property
    def phone(self) -> str | None: ...
    @property
    def company(self) -> str | None: ...
    @property
    def owner_id(self) -> uuid.UUID | None: ...
    @property
    def assign_to_caller(self) -> bool: ...
    @property
    def tags(self) -> list[str]: ...
    @property
    def category(self) -> str | None: ...
    @property
    def custom_fields(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class PersonSpec(Generic[R]):
    """How the shared flows treat one kind of person record."""

    kind: RecordKind
    repository: Callable[[UnitOfWork], PersonRepository[R]]  # e.g. the unit of work's leads
    editable_fields: tuple[str, ...]  # what a PATCH may name
    plain_fields: tuple[str, ...]  # set as given by a PATCH (no rule of their own)
    field_actions: dict[str, str]  # history actions of fields with their own events
    # crm.<kind>.updated and the events of the changed fields with their own meaning
    change_events: Callable[[R, Changes, str | None], list[CloudEvent]]
    # The key a restore's Idempotency-Key request names the record by: keys stored before
    # this module existed are bound to it, so it differs per kind and must stay as it is.
    restore_request_key: str
    # Rules of a kind run after the shared ones on every edit (the lead's status rules).
    extra_rules: Callable[[R, dict[str, Any]], None] | None = None

    def label(self, record_id: uuid.UUID) -> str:
        return f"{self.kind.value} {record_id}"

    def event_type(self, action: str) -> str:
        return f"crm.{self.kind.value}.{action}"


# ------------------------------------------------------------------ reading


def load(
    spec: PersonSpec[R],
    uow: UnitOfWork,
    record_id: uuid.UUID,
    principal: Principal,
    *,
    for_update: bool = False,
    include_deleted: bool = False,
) -> R:
    record = spec.repository(uow).get(
        record_id, for_update=for_update, include_deleted=include_deleted
    )
    # Another seller's record is as invisible as another tenant's: 404, never 403.
    if record is None or not may_see(principal, record.owner_id):
        raise not_found(spec.kind, record_id)
    return record


def load_for_change(
    spec: PersonSpec[R],
    uow: UnitOfWork,
    record_id: uuid.UUID,
    principal: Principal,
    precondition: Precondition | None,
) -> R:
    """The live record locked until commit, at the version If-Match named (else 412)."""
    record = load(spec, uow, record_id, principal, for_update=True)
    if precondition is not None:
        precondition.check(record.version, spec.label(record_id))
    return record


def get(
    spec: PersonSpec[R],
    record_id: uuid.UUID,
    principal: Principal,
    *,
    unit_of_work: UnitOfWorkFactory,
) -> dict[str, Any]:
    with unit_of_work(principal.tenant_id) as uow:
        return load(spec, uow, record_id, principal).to_dict()


def find(
    spec: PersonSpec[R],
    principal: Principal,
    filters: RecordFilters,
    sort: RecordSort,
    page: PageRequest,
    *,
    unit_of_work: UnitOfWorkFactory,
    custom_filters: dict[str, str] | None = None,
) -> Page[R]:
    """Live records (or the deleted ones: `filters.deleted`) of the caller's reach.
    `custom_filters` are `cf.<key>=<value>` query parameters, typed by the definitions."""
    if filters.visible_to is not None:
        raise ValueError("visible_to is the record-level rule, not a caller's filter")
    with unit_of_work(principal.tenant_id) as uow:
        scoped = replace(
            filters,
            visible_to=visible_to(principal),
            custom_fields=custom_filter(uow, spec.kind, custom_filters or {}),
        )
        return spec.repository(uow).find(scoped, sort, page)


def history(
    spec: PersonSpec[R],
    record_id: uuid.UUID,
    principal: Principal,
    page: PageRequest,
    *,
    unit_of_work: UnitOfWorkFactory,
    related: Callable[[UnitOfWork, uuid.UUID], list[uuid.UUID]] | None = None,
) -> Page[HistoryEntry]:
    """Every change of the record, newest first, field by field; a deleted record's history
    stays readable. `related`: records whose history is part of this one's (merged leads)."""
    with unit_of_work(principal.tenant_id) as uow:
        record = load(spec, uow, record_id, principal, include_deleted=True)
        ids = [record.id, *(related(uow, record.id) if related else [])]
        return uow.history.page(spec.kind, ids, page)


# ------------------------------------------------------------------ creating


def new_record_fields(
    uow: UnitOfWork, kind: RecordKind, command: NewPerson, principal: Principal, now: datetime
) -> dict[str, Any]:
    """The constructor arguments every new lead or contact takes from its command, with the
    shared rules checked in their order: owner, tags, category, custom fields. The kind adds
    its own fields, then checks duplicates (ensure_unique) once the record is complete."""
    owner_id = principal.user_id if command.assign_to_caller else command.owner_id
    check_owner(uow, principal, owner_id, kind)
    tags = check_tags(uow, command.tags)
    check_category(uow, command.category)
    return {
        "tenant_id": principal.tenant_id,
        "name": command.name,
        "email": command.email.lower() if command.email else None,
        "phone": command.phone,
        "company": command.company,
        "owner_id": owner_id,
        "tags": tags,
        "category": command.category,
        "custom_fields": custom_values(uow, kind, {}, command.custom_fields),
        "created_by": principal.user_id,
        "created_at": now,
        "updated_at": now,
    }


def record_creation(
    uow: UnitOfWork, kind: RecordKind, record: PersonRecord, context: RequestContext
) -> None:
    """The rows of a record just added: its "created" history row (with its values), the
    crm.<kind>.created event and the audit row."""
    change = Change.by(context.principal, kind, record.id, record.created_at)
    change.record("created", None, None, record_values(record.to_dict()))
    write_history(uow, change)
    uow.add_event(record.event(f"crm.{kind.value}.created", context.correlation_id))
    audit(uow, context, kind, "created", record.id, None, record.audited())


# ------------------------------------------------------------------ editing


def write_version(spec: PersonSpec[R], uow: UnitOfWork, record: R, now: datetime) -> None:
    """Write a changed record as its next version (its ETag changes)."""
    record.version += 1
    record.updated_at = now
    spec.repository(uow).update(record)


def update(
    spec: PersonSpec[R],
    record_id: uuid.UUID,
    changes: dict[str, Any],
    context: RequestContext,
    *,
    unit_of_work: UnitOfWorkFactory,
    precondition: Precondition | None = None,
) -> dict[str, Any]:
    """Apply a PATCH: `changes` holds only the fields the request named (custom_fields: a
    merge patch, null removes a key; tags: the complete new list)."""
    unknown = set(changes) - set(spec.editable_fields)
    if unknown:
        raise ValueError(f"not {spec.kind.value} fields: {sorted(unknown)}")
    with unit_of_work(context.principal.tenant_id) as uow:
        record = load_for_change(spec, uow, record_id, context.principal, precondition)
        body = apply_changes(spec, uow, record, changes, context)
        uow.commit()
    return body


def apply_changes(
    spec: PersonSpec[R],
    uow: UnitOfWork,
    record: R,
    changes: dict[str, Any],
    context: RequestContext,
) -> dict[str, Any]:
    """Change a locked record: rules, then (when anything changed) version, row, history,
    events and audit. Returns the record as it is now."""
    principal = context.principal
    kind = spec.kind
    before = record.to_dict()
    for name in spec.plain_fields:
        if name in changes:
            setattr(record, name, changes[name])
    if "email" in changes:
        record.email = changes["email"].lower() if changes["email"] else None
    if "owner_id" in changes and changes["owner_id"] != record.owner_id:
        check_owner(uow, principal, changes["owner_id"], kind)
        record.owner_id = changes["owner_id"]
    if "tags" in changes:
        record.tags = check_tags(uow, changes["tags"])
    if "category" in changes and changes["category"] != record.category:
        check_category(uow, changes["category"])
        record.category = changes["category"]
    if "custom_fields" in changes:
        record.custom_fields = custom_values(
            uow, kind, record.custom_fields, changes["custom_fields"]
        )
    if spec.extra_rules is not None:
        spec.extra_rules(record, changes)
    changed = changed_fields(before, record.to_dict(), BOOKKEEPING_FIELDS)
    if not changed:
        return before
    if "email" in changed or "phone" in changed:
        ensure_unique(spec.repository(uow), kind, record.email, record.phone, record.id)
    now = datetime.now(UTC)
    write_version(spec, uow, record, now)
    change = Change.by(principal, kind, record.id, now)
    change.fields(changed, spec.field_actions)
    write_history(uow, change)
    for event in spec.change_events(record, changed, context.correlation_id):
        uow.add_event(event)
    # Only leads have a status; its change is the audit action that says the most.
    action = "status_changed" if "status" in changed else "updated"
    audit(uow, context, kind, action, record.id, audited(record, before), record.audited())
    return record.to_dict()


def audited(record: PersonRecord, body: dict[str, Any]) -> dict[str, Any]:
    """The audited fields of `body` (the record as it was before a change)."""
    return {name: body[name] for name in record.audited()}


def tag(
    spec: PersonSpec[R],
    record_id: uuid.UUID,
    name: str,
    context: RequestContext,
    *,
    add: bool,
    unit_of_work: UnitOfWorkFactory,
    precondition: Precondition | None = None,
) -> dict[str, Any]:
    """Add or remove one tag; a no-op when the record already has (or lacks) it."""
    with unit_of_work(context.principal.tenant_id) as uow:
        record = load_for_change(spec, uow, record_id, context.principal, precondition)
        if add:
            tag_name = check_tags(uow, [name], loc="tag")[0]
            tags = record.tags if tag_name in record.tags else [*record.tags, tag_name]
        else:
            tag_name = name.strip().lower()
            tags = [t for t in record.tags if t != tag_name]
        body = apply_changes(spec, uow, record, {"tags": tags}, context)
        uow.commit()
    return body


# ------------------------------------------------------------------ delete and restore


def delete(
    spec: PersonSpec[R],
    record_id: uuid.UUID,
    context: RequestContext,
    *,
    unit_of_work: UnitOfWorkFactory,
    precondition: Precondition | None = None,
) -> None:
    """Soft delete: the record leaves lists and searches, and can be restored for 30 days."""
    with unit_of_work(context.principal.tenant_id) as uow:
        record = load_for_change(spec, uow, record_id, context.principal, precondition)
        soft_delete(spec, uow, record, context)
        uow.commit()


def soft_delete(
    spec: PersonSpec[R],
    uow: UnitOfWork,
    record: R,
    context: RequestContext,
    *,
    action: str = "deleted",
    details: dict[str, Any] | None = None,
) -> None:
    """Mark a locked record deleted. `action` names the history and audit rows (a merged
    lead: merged_into); the event is crm.<kind>.deleted whatever the reason."""
    now = datetime.now(UTC)
    before = record.audited()
    record.deleted_at = now
    write_version(spec, uow, record, now)
    change = Change.by(context.principal, spec.kind, record.id, now)
    change.record(action, None, None, details)
    write_history(uow, change)
    uow.add_event(record.event(spec.event_type("deleted"), context.correlation_id))
    audit(uow, context, spec.kind, action, record.id, before, record.audited())


def restore(
    spec: PersonSpec[R],
    record_id: uuid.UUID,
    context: RequestContext,
    *,
    unit_of_work: UnitOfWorkFactory,
    idempotency_key: str | None = None,
    refuse: Callable[[R], None] | None = None,
) -> tuple[dict[str, Any], bool]:
    """Undo a soft delete; restoring a live record changes nothing. `refuse` raises for a
    record that cannot be restored (a merged lead). Returns (record, replayed)."""
    principal = context.principal
    with unit_of_work(principal.tenant_id) as uow:
        claim = claim_key(
            uow,
            idempotency_key,
            f"{spec.kind.plural}.restore",
            {spec.restore_request_key: str(record_id)},
        )
        if claim.replay is not None:
            return claim.replay.body, True
        record = load(spec, uow, record_id, principal, for_update=True, include_deleted=True)
        if refuse is not None:
            refuse(record)
        if record.deleted_at is not None:
            # Its email or phone may have been taken by another record meanwhile.
            ensure_unique(spec.repository(uow), spec.kind, record.email, record.phone, record.id)
            now = datetime.now(UTC)
            before = record.audited()
            record.deleted_at = None
            write_version(spec, uow, record, now)
            change = Change.by(principal, spec.kind, record.id, now)
            change.record("restored", None, None, None)
            write_history(uow, change)
            uow.add_event(record.event(spec.event_type("restored"), context.correlation_id))
            audit(uow, context, spec.kind, "restored", record.id, before, record.audited())
        body = record.to_dict()
        claim.complete(200, body)
        uow.commit()
    return body, False
