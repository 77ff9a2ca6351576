"""Contact use cases: create, read, list (filters, sort, search), edit (owner, tags, category,
custom fields), soft delete and restore, tags one by one, history. The flows are the ones
leads share (crm.services.person_records): duplicates by email or phone among live contacts
(409), history rows per field, crm.contact.* events, audit rows without personal data, and the
sellers' rule. What is a contact's own: its job title and the lead it was converted from."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from crm.domain.contacts import EDITABLE_FIELDS, FIELD_ACTIONS, Contact, change_events
from crm.domain.records import RecordKind
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


# The shared flows bound to contacts (crm.services.person_records documents each).
load_contact = partial(person_records.load, CONTACTS)
get_contact = partial(person_records.get, CONTACTS)
list_contacts = partial(person_records.find, CONTACTS)
update_contact = partial(person_records.update, CONTACTS)
tag_contact = partial(person_records.tag, CONTACTS)
# Soft: deals keep pointing at a deleted contact until it is purged.
delete_contact = partial(person_records.delete, CONTACTS)
restore_contact = partial(person_records.restore, CONTACTS)
contact_history = partial(person_records.history, CONTACTS)
