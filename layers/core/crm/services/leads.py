"""Lead use cases: create, read, list (filters, sort, search), edit (status rules, owner,
tags, category, score, custom fields), soft delete and restore, merge, and history.

Every change writes, in one transaction: the lead, its history rows (field by field, who,
when, old -> new), its events in the outbox (crm.lead.created / updated / status_changed /
assigned / tagged / deleted / restored / merged) and an audit row without personal data.
Record-level rule: sellers reach only their own and unassigned leads (others: 404).
The flows leads share with contacts are in crm.services.person_records.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

from crm.domain.audit import RequestMeta
from crm.domain.concurrency import Precondition
from crm.domain.contacts import Contact
from crm.domain.errors import Conflict, ValidationFailed
from crm.domain.events import CloudEvent
from crm.domain.leads import (
    EDITABLE_FIELDS,
    FIELD_ACTIONS,
    Lead,
    LeadStatus,
    apply_status,
    change_events,
)
from crm.domain.person_records import BOOKKEEPING_FIELDS
from crm.domain.plans import Metric
from crm.domain.records import (
    Change,
    RecordKind,
    body_error,
    changed_fields,
)
from crm.domain.tenants import Principal
from crm.ports import UnitOfWork, UnitOfWorkFactory
from crm.services import person_records
from crm.services.contacts import NewContact, add_contact, load_contact
from crm.services.deals import NewDeal, add_deal
from crm.services.idempotency import claim_key
from crm.services.person_records import Changes, PersonSpec, audited
from crm.services.plans import ensure_within_limit
from crm.services.records import audit, ensure_unique, write_history
from crm.services.request_context import RequestContext

KIND = RecordKind.LEAD


def _status_rules(lead: Lead, changes: dict[str, Any]) -> None:
    apply_status(lead, {k: v for k, v in changes.items() if k in ("status", "lost_reason")})


def _change_events(lead: Lead, changes: Changes, correlation_id: str | None) -> list[CloudEvent]:
    return change_events(lead, changes, correlation_id, status_reason=lead.lost_reason)


LEADS: PersonSpec[Lead] = PersonSpec(
    kind=KIND,
    repository=lambda uow: uow.leads,
    editable_fields=EDITABLE_FIELDS,
    plain_fields=("name", "phone", "company", "source", "score"),
    field_actions=FIELD_ACTIONS,
    change_events=_change_events,
    restore_request_key="lead_id",
    extra_rules=_status_rules,
)


@dataclass(frozen=True)
class NewLead:
    name: str
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    source: str | None = None
    status: LeadStatus = LeadStatus.NEW
    lost_reason: str | None = None
    owner_id: uuid.UUID | None = None
    assign_to_caller: bool = True  # no owner_id in the request: the caller owns the lead
    tags: list[str] = field(default_factory=list)
    category: str | None = None
    score: int | None = None
    custom_fields: dict[str, Any] = field(default_factory=dict)


_load = partial(person_records.load, LEADS)


def build_lead(uow: UnitOfWork, command: NewLead, principal: Principal, now: datetime) -> Lead:
    """A new lead from `command`, every rule checked (owner, tags, category, custom fields,
    status, duplicates). The caller adds it; the import reuses this for each row."""
    if command.status is LeadStatus.CONVERTED:
        raise ValidationFailed(
            "a lead becomes converted by converting it",
            [body_error("status", "new, qualified or lost")],
        )
    fields = person_records.new_record_fields(uow, KIND, command, principal, now)
    lead = Lead(**fields, source=command.source, score=command.score)
    apply_status(lead, {"status": command.status, "lost_reason": command.lost_reason})
    ensure_unique(uow.leads, KIND, lead.email, lead.phone)
    return lead


def create_lead(
    command: NewLead,
    principal: Principal,
    *,
    unit_of_work: UnitOfWorkFactory,
    idempotency_key: str | None = None,
    correlation_id: str | None = None,
    meta: RequestMeta | None = None,
    request: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], bool]:
    """Create a lead and its crm.lead.created event in one transaction.

    Returns (lead, replayed): with an Idempotency-Key seen before for the same request
    (`request`: the body as sent; default the command), the first response is returned and
    nothing is written; for a different request, 422.
    """
    context = RequestContext(principal, correlation_id, meta or RequestMeta())
    now = datetime.now(UTC)
    with unit_of_work(principal.tenant_id) as uow:
        claim = claim_key(uow, idempotency_key, "leads.create", request or asdict(command))
        if claim.replay is not None:
            return claim.replay.body, True
        ensure_within_limit(uow, Metric.LEADS)
        lead = build_lead(uow, command, principal, now)
        uow.leads.add(lead)
        person_records.record_creation(uow, KIND, lead, context)
        body = lead.to_dict()
        claim.complete(201, body)
        uow.commit()
    return body, False


def _refuse_merged(lead: Lead) -> None:
    # A merged lead's data lives on in the lead it was merged into: it is restored by no one.
    if lead.merged_into is not None:
        raise Conflict(
            f"this lead was merged into lead {lead.merged_into}",
            merged_into=str(lead.merged_into),
        )


def _merged_into(uow: UnitOfWork, lead_id: uuid.UUID) -> list[uuid.UUID]:
    # A merged lead's history is part of the history of the lead it was merged into.
    return uow.leads.merged_into(lead_id)


def apply_lead_changes(
    uow: UnitOfWork, lead: Lead, changes: dict[str, Any], context: RequestContext
) -> dict[str, Any]:
    """Change a locked lead (the import's dedup policy "update" uses this too)."""
    return person_records.apply_changes(LEADS, uow, lead, changes, context)


# The shared flows bound to leads (crm.services.person_records documents each).
get_lead = partial(person_records.get, LEADS)
list_leads = partial(person_records.find, LEADS)
update_lead = partial(person_records.update, LEADS)
tag_lead = partial(person_records.tag, LEADS)
delete_lead = partial(person_records.delete, LEADS)
restore_lead = partial(person_records.restore, LEADS, refuse=_refuse_merged)
lead_history = partial(person_records.history, LEADS, related=_merged_into)


# ------------------------------------------------------------------ merge

# What the remaining lead takes from the merged one when it has no value of its own.
MERGE_FILL_FIELDS = ("email", "phone", "company", "source", "category", "score", "owner_id")


def merge_leads(
    lead_id: uuid.UUID,
    other_id: uuid.UUID,
    context: RequestContext,
    *,
    unit_of_work: UnitOfWorkFactory,
    idempotency_key: str | None = None,
    precondition: Precondition | None = None,
) -> tuple[dict[str, Any], bool]:
    """Merge lead `other_id` into lead `lead_id`: the remaining lead keeps its values and takes
    the other's where it has none (custom fields per key, tags united); the other lead is
    deleted (soft, with merged_into) and its deals point at the remaining one. Both histories
    stay: the remaining lead's history includes the merged lead's. Returns (lead, replayed)."""
    principal = context.principal
    if lead_id == other_id:
        raise ValidationFailed(
            "a lead cannot be merged into itself",
            [body_error("lead_id", "name another lead")],
        )
    with unit_of_work(principal.tenant_id) as uow:
        claim = claim_key(
            uow, idempotency_key, "leads.merge", {"into": str(lead_id), "lead_id": str(other_id)}
        )
        if claim.replay is not None:
            return claim.replay.body, True
        # Lock in id order: two merges of the same pair in opposite directions cannot deadlock.
        first, second = sorted((lead_id, other_id))
        locked = {
            first: _load(uow, first, principal, for_update=True),
            second: _load(uow, second, principal, for_update=True),
        }
        lead, other = locked[lead_id], locked[other_id]
        if precondition is not None:
            precondition.check(lead.version, f"lead {lead_id}")
        if other.status is LeadStatus.CONVERTED:
            raise Conflict(
                "a converted lead cannot be merged into another (its contact refers to it)",
                lead_id=str(other_id),
            )
        other.merged_into = lead.id
        person_records.soft_delete(
            LEADS, uow, other, context, action="merged_into", details={"lead_id": str(lead.id)}
        )
        uow.leads.repoint_merged(other.id, lead.id)
        uow.leads.repoint_deals(other.id, lead.id)
        before = lead.to_dict()
        for name in MERGE_FILL_FIELDS:
            if getattr(lead, name) is None and getattr(other, name) is not None:
                setattr(lead, name, getattr(other, name))
        lead.tags = list(dict.fromkeys([*lead.tags, *other.tags]))
        lead.custom_fields = {**other.custom_fields, **lead.custom_fields}
        changed = changed_fields(before, lead.to_dict(), BOOKKEEPING_FIELDS)
        if "email" in changed or "phone" in changed:
            ensure_unique(uow.leads, KIND, lead.email, lead.phone, exclude_id=lead.id)
        now = datetime.now(UTC)
        person_records.write_version(LEADS, uow, lead, now)
        change = Change.by(principal, KIND, lead.id, now)
        change.record("merged", None, None, {"lead_id": str(other.id)})
        change.fields(changed, {name: "merged" for name in changed})
        write_history(uow, change)
        uow.add_event(
            lead.event(
                "crm.lead.merged", context.correlation_id, merged_lead_id=str(other.id),
                changes=changed,
            )
        )  # fmt: skip
        audit(uow, context, KIND, "merged", lead.id, audited(lead, before), lead.audited())
        body = lead.to_dict()
        claim.complete(200, body)
        uow.commit()
    return body, False


# ------------------------------------------------------------------ convert


@dataclass(frozen=True)
class Conversion:
    """How to convert a lead: into a new contact made from it (or an existing one), maybe with
    a deal."""

    contact_id: uuid.UUID | None = None  # an existing contact instead of a new one
    job_title: str | None = None
    contact_custom_fields: dict[str, Any] = field(default_factory=dict)
    deal: NewDeal | None = None


def convert_lead(
    lead_id: uuid.UUID,
    conversion: Conversion,
    context: RequestContext,
    *,
    unit_of_work: UnitOfWorkFactory,
    request: dict[str, Any],
    idempotency_key: str | None = None,
    precondition: Precondition | None = None,
) -> tuple[dict[str, Any], bool]:
    """Turn the lead into a contact (new, from the lead's values, or `contact_id`) and, with
    `deal`, a deal linked to both; the lead becomes converted (final) and points at the
    contact. One transaction: the contact's, the deal's and the lead's rows, histories and
    events (crm.contact.created, crm.deal.created, crm.lead.updated / status_changed /
    converted). Returns ({lead, contact, deal}, replayed)."""
    principal = context.principal
    with unit_of_work(principal.tenant_id) as uow:
        claim = claim_key(
            uow, idempotency_key, "leads.convert", {"lead_id": str(lead_id), **request}
        )
        if claim.replay is not None:
            return claim.replay.body, True
        lead = person_records.load_for_change(LEADS, uow, lead_id, principal, precondition)
        if lead.status is LeadStatus.CONVERTED:
            raise Conflict(
                "this lead is converted already",
                contact_id=str(lead.contact_id) if lead.contact_id else None,
            )
        now = datetime.now(UTC)
        contact = _conversion_contact(uow, lead, conversion, context, now)
        deal = None
        if conversion.deal is not None:
            deal = add_deal(
                uow,
                replace(conversion.deal, lead_id=lead.id, contact_id=contact.id),
                context,
                now,
            )
        before = lead.to_dict()
        lead.status, lead.lost_reason = LeadStatus.CONVERTED, None
        lead.converted_at, lead.contact_id = now, contact.id
        person_records.write_version(LEADS, uow, lead, now)
        changed = changed_fields(before, lead.to_dict(), BOOKKEEPING_FIELDS)
        change = Change.by(principal, KIND, lead.id, now)
        change.record(
            "converted", None, None,
            {"contact_id": str(contact.id), "deal_id": str(deal.id) if deal else None},
        )  # fmt: skip
        change.fields(changed, FIELD_ACTIONS)
        write_history(uow, change)
        for event in change_events(lead, changed, context.correlation_id):
            uow.add_event(event)
        uow.add_event(
            lead.event(
                "crm.lead.converted", context.correlation_id, contact_id=str(contact.id),
                deal_id=str(deal.id) if deal else None,
            )
        )  # fmt: skip
        audit(uow, context, KIND, "converted", lead.id, audited(lead, before), lead.audited())
        body = {
            "lead": lead.to_dict(),
            "contact": contact.to_dict(),
            "deal": deal.to_dict() if deal else None,
        }
        claim.complete(200, body)
        uow.commit()
    return body, False


def _conversion_contact(
    uow: UnitOfWork, lead: Lead, conversion: Conversion, context: RequestContext, now: datetime
) -> Contact:
    if conversion.contact_id is not None:
        return load_contact(uow, conversion.contact_id, context.principal)
    # The lead's custom fields that contacts define too (same key), then the request's values.
    contact_keys = {d.key for d in uow.custom_fields.for_entity(RecordKind.CONTACT)}
    carried = {k: v for k, v in lead.custom_fields.items() if k in contact_keys}
    return add_contact(
        uow,
        NewContact(
            name=lead.name,
            email=lead.email,
            phone=lead.phone,
            company=lead.company,
            job_title=conversion.job_title,
            owner_id=lead.owner_id,
            assign_to_caller=False,
            tags=lead.tags,
            category=lead.category,
            custom_fields={**carried, **conversion.contact_custom_fields},
            lead_id=lead.id,
        ),
        context,
        now,
    )
