"""Contact use cases: create, read, list (filters, sort, search), edit (owner, tags, category,
custom fields), soft delete and restore, tags one by one, history. The same rules as leads
(crm.services.records): duplicates by email or phone among live contacts (409), history rows
per field, crm.contact.* events, audit rows without personal data, and the sellers' rule."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from crm.domain.concurrency import Precondition
from crm.domain.contacts import (
    BOOKKEEPING_FIELDS,
    EDITABLE_FIELDS,
    FIELD_ACTIONS,
    Contact,
    change_events,
)
from crm.domain.pagination import Page, PageRequest
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

KIND = RecordKind.CONTACT


@dataclass(frozen=True)
class NewContact:
    name: str
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    job_title: str | None = None
    owner_id: uuid.UUID | None = None
    assign_to_caller: bool = True  # no owner_id in the request: the caller owns the contact
    tags: list[str] = field(default_factory=list)
    category: str | None = None
    custom_fields: dict[str, Any] = field(default_factory=dict)
    lead_id: uuid.UUID | None = None  # set by converting a lead


def load_contact(
    uow: UnitOfWork,
    contact_id: uuid.UUID,
    principal: Principal,
    *,
    for_update: bool = False,
    include_deleted: bool = False,
) -> Contact:
    contact = uow.contacts.get(contact_id, for_update=for_update, include_deleted=include_deleted)
    if contact is None or not may_see(principal, contact.owner_id):
        raise not_found(KIND, contact_id)
    return contact


def add_contact(
    uow: UnitOfWork, command: NewContact, context: RequestContext, now: datetime
) -> Contact:
    """Check and write a new contact with its history row, event and audit row, in `uow`
    (creating one, or converting a lead)."""
    principal = context.principal
    owner_id = principal.user_id if command.assign_to_caller else command.owner_id
    check_owner(uow, principal, owner_id, KIND)
    tags = check_tags(uow, command.tags)
    check_category(uow, command.category)
    contact = Contact(
        tenant_id=principal.tenant_id,
        name=command.name,
        email=command.email.lower() if command.email else None,
        phone=command.phone,
        company=command.company,
        job_title=command.job_title,
        owner_id=owner_id,
        tags=tags,
        category=command.category,
        custom_fields=custom_values(uow, KIND, {}, command.custom_fields),
        lead_id=command.lead_id,
        created_by=principal.user_id,
        created_at=now,
        updated_at=now,
    )
    ensure_unique(uow.contacts, KIND, contact.email, contact.phone)
    uow.contacts.add(contact)
    change = Change.by(principal, KIND, contact.id, now)
    change.record("created", None, None, record_values(contact.to_dict()))
    write_history(uow, change)
    uow.add_event(contact.event("crm.contact.created", context.correlation_id))
    audit(uow, context, KIND, "created", contact.id, None, contact.audited())
    return contact


def create_contact(
    command: NewContact,
    context: RequestContext,
    *,
    unit_of_work: UnitOfWorkFactory,
    request: dict[str, Any],
    idempotency_key: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Returns (contact, replayed); `request` is the body as sent (what an Idempotency-Key is
    bound to)."""
    with unit_of_work(context.principal.tenant_id) as uow:
        claim = claim_key(uow, idempotency_key, "contacts.create", request)
        if claim.replay is not None:
            return claim.replay.body, True
        contact = add_contact(uow, command, context, datetime.now(UTC))
        body = contact.to_dict()
        claim.complete(201, body)
        uow.commit()
    return body, False


def get_contact(
    contact_id: uuid.UUID, principal: Principal, *, unit_of_work: UnitOfWorkFactory
) -> dict[str, Any]:
    with unit_of_work(principal.tenant_id) as uow:
        return load_contact(uow, contact_id, principal).to_dict()


def list_contacts(
    principal: Principal,
    filters: RecordFilters,
    sort: RecordSort,
    page: PageRequest,
    *,
    unit_of_work: UnitOfWorkFactory,
    custom_filters: dict[str, str] | None = None,
) -> Page[Contact]:
    if filters.visible_to is not None:
        raise ValueError("visible_to is the record-level rule, not a caller's filter")
    with unit_of_work(principal.tenant_id) as uow:
        scoped = replace(
            filters,
            visible_to=visible_to(principal),
            custom_fields=custom_filter(uow, KIND, custom_filters or {}),
        )
        return uow.contacts.find(scoped, sort, page)


def update_contact(
    contact_id: uuid.UUID,
    changes: dict[str, Any],
    context: RequestContext,
    *,
    unit_of_work: UnitOfWorkFactory,
    precondition: Precondition | None = None,
) -> dict[str, Any]:
    """Apply a PATCH: only the named fields (custom_fields: merge patch; tags: the new list)."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not contact fields: {sorted(unknown)}")
    with unit_of_work(context.principal.tenant_id) as uow:
        contact = load_contact(uow, contact_id, context.principal, for_update=True)
        if precondition is not None:
            precondition.check(contact.version, f"contact {contact_id}")
        body = _apply_changes(uow, contact, changes, context)
        uow.commit()
    return body


def _apply_changes(
    uow: UnitOfWork, contact: Contact, changes: dict[str, Any], context: RequestContext
) -> dict[str, Any]:
    principal = context.principal
    before = contact.to_dict()
    for name in ("name", "phone", "company", "job_title"):
        if name in changes:
            setattr(contact, name, changes[name])
    if "email" in changes:
        contact.email = changes["email"].lower() if changes["email"] else None
    if "owner_id" in changes and changes["owner_id"] != contact.owner_id:
        check_owner(uow, principal, changes["owner_id"], KIND)
        contact.owner_id = changes["owner_id"]
    if "tags" in changes:
        contact.tags = check_tags(uow, changes["tags"])
    if "category" in changes and changes["category"] != contact.category:
        check_category(uow, changes["category"])
        contact.category = changes["category"]
    if "custom_fields" in changes:
        contact.custom_fields = custom_values(
            uow, KIND, contact.custom_fields, changes["custom_fields"]
        )
    changed = changed_fields(before, contact.to_dict(), BOOKKEEPING_FIELDS)
    if not changed:
        return before
    if "email" in changed or "phone" in changed:
        ensure_unique(uow.contacts, KIND, contact.email, contact.phone, exclude_id=contact.id)
    now = datetime.now(UTC)
    contact.version += 1
    contact.updated_at = now
    uow.contacts.update(contact)
    change = Change.by(principal, KIND, contact.id, now)
    change.fields(changed, FIELD_ACTIONS)
    write_history(uow, change)
    for event in change_events(contact, changed, context.correlation_id):
        uow.add_event(event)
    before_audit = {k: before[k] for k in contact.audited()}
    audit(uow, context, KIND, "updated", contact.id, before_audit, contact.audited())
    return contact.to_dict()


def tag_contact(
    contact_id: uuid.UUID,
    tag: str,
    context: RequestContext,
    *,
    add: bool,
    unit_of_work: UnitOfWorkFactory,
    precondition: Precondition | None = None,
) -> dict[str, Any]:
    with unit_of_work(context.principal.tenant_id) as uow:
        contact = load_contact(uow, contact_id, context.principal, for_update=True)
        if precondition is not None:
            precondition.check(contact.version, f"contact {contact_id}")
        if add:
            name = check_tags(uow, [tag], loc="tag")[0]
            tags = contact.tags if name in contact.tags else [*contact.tags, name]
        else:
            name = tag.strip().lower()
            tags = [t for t in contact.tags if t != name]
        body = _apply_changes(uow, contact, {"tags": tags}, context)
        uow.commit()
    return body


def delete_contact(
    contact_id: uuid.UUID,
    context: RequestContext,
    *,
    unit_of_work: UnitOfWorkFactory,
    precondition: Precondition | None = None,
) -> None:
    """Soft delete: restorable for 30 days. Deals keep pointing at it until it is purged."""
    with unit_of_work(context.principal.tenant_id) as uow:
        contact = load_contact(uow, contact_id, context.principal, for_update=True)
        if precondition is not None:
            precondition.check(contact.version, f"contact {contact_id}")
        _set_deleted(uow, contact, context, deleted=True)
        uow.commit()


def restore_contact(
    contact_id: uuid.UUID,
    context: RequestContext,
    *,
    unit_of_work: UnitOfWorkFactory,
    idempotency_key: str | None = None,
) -> tuple[dict[str, Any], bool]:
    principal = context.principal
    with unit_of_work(principal.tenant_id) as uow:
        claim = claim_key(uow, idempotency_key, "contacts.restore", {"id": str(contact_id)})
        if claim.replay is not None:
            return claim.replay.body, True
        contact = load_contact(uow, contact_id, principal, for_update=True, include_deleted=True)
        if contact.deleted_at is not None:
            ensure_unique(uow.contacts, KIND, contact.email, contact.phone, exclude_id=contact.id)
            _set_deleted(uow, contact, context, deleted=False)
        body = contact.to_dict()
        claim.complete(200, body)
        uow.commit()
    return body, False


def _set_deleted(
    uow: UnitOfWork, contact: Contact, context: RequestContext, *, deleted: bool
) -> None:
    now = datetime.now(UTC)
    before = contact.audited()
    contact.deleted_at = now if deleted else None
    contact.updated_at = now
    contact.version += 1
    uow.contacts.update(contact)
    action = "deleted" if deleted else "restored"
    change = Change.by(context.principal, KIND, contact.id, now)
    change.record(action, None, None, None)
    write_history(uow, change)
    uow.add_event(contact.event(f"crm.contact.{action}", context.correlation_id))
    audit(uow, context, KIND, action, contact.id, before, contact.audited())


def contact_history(
    contact_id: uuid.UUID,
    principal: Principal,
    page: PageRequest,
    *,
    unit_of_work: UnitOfWorkFactory,
) -> Page[HistoryEntry]:
    """Every change of the contact, newest first, field by field."""
    with unit_of_work(principal.tenant_id) as uow:
        contact = load_contact(uow, contact_id, principal, include_deleted=True)
        return uow.history.page(KIND, [contact.id], page)
