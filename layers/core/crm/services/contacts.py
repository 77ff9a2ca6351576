"""Contact use cases: create, read, list (filters, sort, search), edit (owner, tags, category,
custom fields), soft delete and restore, tags one by one, history. The flows are the ones
leads share (crm.services.person_records): duplicates by email or phone among live contacts
(409), history rows per field, crm.contact.* events, audit rows without personal data, and the
sellers' rule. What is a contact's own: its job title and the lead it was converted from."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from crm.domain.concurrency import Precondition
from crm.domain.contacts import EDITABLE_FIELDS, FIELD_ACTIONS, Contact, change_events
from crm.domain.pagination import Page, PageRequest
from crm.domain.records import HistoryEntry, RecordFilters, RecordKind, RecordSort
from crm.domain.tenants import Principal
from crm.ports import UnitOfWork, UnitOfWorkFactory
from crm.services import person_records
from crm.services.idempotency import claim_key
from crm.services.person_records import PersonSpec
from crm.services.records import ensure_unique
from crm.services.request_context import RequestContext

KIND = RecordKind.CONTACT

CONTACTS: PersonSpec[Contact] = PersonSpec(
    kind=KIND,
    repository=lambda uow: uow.contacts,
    editable_fields=EDITABLE_FIELDS,
    plain_fields=("name", "phone", "company", "job_title"),
    field_actions=FIELD_ACTIONS,
    change_events=change_events,
    restore_request_key="id",
)


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
    return person_records.load(
        CONTACTS, uow, contact_id, principal, for_update=for_update, include_deleted=include_deleted
    )


def add_contact(
    uow: UnitOfWork, command: NewContact, context: RequestContext, now: datetime
) -> Contact:
    """Check and write a new contact with its history row, event and audit row, in `uow`
    (creating one, or converting a lead)."""
    fields = person_records.new_record_fields(uow, KIND, command, context.principal, now)
    contact = Contact(**fields, job_title=command.job_title, lead_id=command.lead_id)
    ensure_unique(uow.contacts, KIND, contact.email, contact.phone)
    uow.contacts.add(contact)
    person_records.record_creation(uow, KIND, contact, context)
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
    return person_records.get(CONTACTS, contact_id, principal, unit_of_work=unit_of_work)


def list_contacts(
    principal: Principal,
    filters: RecordFilters,
    sort: RecordSort,
    page: PageRequest,
    *,
    unit_of_work: UnitOfWorkFactory,
    custom_filters: dict[str, str] | None = None,
) -> Page[Contact]:
    return person_records.find(
        CONTACTS,
        principal,
        filters,
        sort,
        page,
        unit_of_work=unit_of_work,
        custom_filters=custom_filters,
    )


def update_contact(
    contact_id: uuid.UUID,
    changes: dict[str, Any],
    context: RequestContext,
    *,
    unit_of_work: UnitOfWorkFactory,
    precondition: Precondition | None = None,
) -> dict[str, Any]:
    """Apply a PATCH: only the named fields (custom_fields: merge patch; tags: the new list)."""
    return person_records.update(
        CONTACTS, contact_id, changes, context, unit_of_work=unit_of_work, precondition=precondition
    )


def tag_contact(
    contact_id: uuid.UUID,
    tag: str,
    context: RequestContext,
    *,
    add: bool,
    unit_of_work: UnitOfWorkFactory,
    precondition: Precondition | None = None,
) -> dict[str, Any]:
    return person_records.tag(
        CONTACTS,
        contact_id,
        tag,
        context,
        add=add,
        unit_of_work=unit_of_work,
        precondition=precondition,
    )


def delete_contact(
    contact_id: uuid.UUID,
    context: RequestContext,
    *,
    unit_of_work: UnitOfWorkFactory,
    precondition: Precondition | None = None,
) -> None:
    """Soft delete: restorable for 30 days. Deals keep pointing at it until it is purged."""
    person_records.delete(
        CONTACTS, contact_id, context, unit_of_work=unit_of_work, precondition=precondition
    )


def restore_contact(
    contact_id: uuid.UUID,
    context: RequestContext,
    *,
    unit_of_work: UnitOfWorkFactory,
    idempotency_key: str | None = None,
) -> tuple[dict[str, Any], bool]:
    return person_records.restore(
        CONTACTS, contact_id, context, unit_of_work=unit_of_work, idempotency_key=idempotency_key
    )


def contact_history(
    contact_id: uuid.UUID,
    principal: Principal,
    page: PageRequest,
    *,
    unit_of_work: UnitOfWorkFactory,
) -> Page[HistoryEntry]:
    """Every change of the contact, newest first, field by field."""
    return person_records.history(CONTACTS, contact_id, principal, page, unit_of_work=unit_of_work)
