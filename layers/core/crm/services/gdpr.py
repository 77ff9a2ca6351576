"""GDPR: everything held about a person (found by email), and its erasure.

Export returns the person's leads and contacts (deleted ones too), with their history, notes,
linked deals and the automation runs their events started. Erasure anonymises the records and
every copy of their personal data the platform keeps (see crm.domain.gdpr): the records stay,
so aggregates (counts by status, source, owner, dates) stay right. The OpenSearch read model
holds no personal data by design (status, source, owner, dates), so its documents stay as
they are. The tenant's stored export files (CSV copies any of which may hold the person) are
deleted; an import's uploaded file is deleted when the import ends (crm.services.imports), so
only the files of imports still to run can hold the person, until they run. Both are audited without the email (a hash names the person). Owners and admins
only (gdpr:export, gdpr:erase).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from crm.domain.events import CloudEvent
from crm.domain.gdpr import ERASED, person_key
from crm.domain.records import Change, RecordKind
from crm.ports import UnitOfWork, UnitOfWorkFactory
from crm.ports.messaging import MessagingUnitOfWork
from crm.services.audit_logs import record_change
from crm.services.exports import export_files_prefix
from crm.services.idempotency import claim_key
from crm.services.request_context import RequestContext

EVERYTHING = 100_000  # a person's rows of one kind; far beyond any real record's


class StoredFiles(Protocol):
    def delete_prefix(self, prefix: str) -> int:
        """Delete every stored file whose key starts with `prefix`; returns how many."""
        ...


def _audit(
    uow: UnitOfWork, context: RequestContext, action: str, email: str, after: dict[str, Any]
) -> None:
    record_change(
        uow, context.principal, action, entity_type="person", entity_id=person_key(email),
        before=None, after=after, meta=context.meta,
    )  # fmt: skip


def export_person(
    email: str, context: RequestContext, *, unit_of_work: UnitOfWorkFactory
) -> dict[str, Any]:
    email = email.strip().lower()
    with unit_of_work(context.principal.tenant_id) as uow:
        lead_ids, contact_ids = uow.personal_data.record_ids_by_email(email)
        leads = [uow.leads.get(i, include_deleted=True) for i in lead_ids]
        contacts = [uow.contacts.get(i, include_deleted=True) for i in contact_ids]
        deals = [uow.deals.get(i, include_deleted=True) for i in
                 uow.personal_data.deal_ids_of(lead_ids, contact_ids)]  # fmt: skip
        history = [
            *uow.history.newest(RecordKind.LEAD, lead_ids, None, EVERYTHING),
            *uow.history.newest(RecordKind.CONTACT, contact_ids, None, EVERYTHING),
        ]
        notes = [
            *uow.notes.newest(RecordKind.LEAD, lead_ids, None, EVERYTHING),
            *uow.notes.newest(RecordKind.CONTACT, contact_ids, None, EVERYTHING),
        ]
        subjects = [f"leads/{i}" for i in lead_ids] + [f"contacts/{i}" for i in contact_ids]
        runs = uow.record_runs.newest(subjects, None, EVERYTHING)
        body = {
            "email": email,
            "generated_at": datetime.now(UTC).isoformat(),
            "leads": [lead.to_dict() for lead in leads if lead],
            "contacts": [contact.to_dict() for contact in contacts if contact],
            "deals": [deal.to_dict() for deal in deals if deal],
            "history": [entry.to_dict() for entry in history],
            "notes": [note.to_dict() for note in notes],
            "automation_runs": [
                {
                    "id": str(run.id),
                    "automation_id": str(run.automation_id),
                    "automation_name": run.automation_name,
                    "event_type": run.event_type,
                    "started_at": run.started_at.isoformat(),
                }
                for run in runs
            ],
        }
        counts = {key: len(body[key]) for key in ("leads", "contacts", "deals", "history", "notes")}
        _audit(uow, context, "gdpr.exported", email, counts)
        uow.commit()
    return body


def erase_person(
    email: str,
    context: RequestContext,
    *,
    unit_of_work: UnitOfWorkFactory,
    files: StoredFiles,
    idempotency_key: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Anonymise the person's leads and contacts and every copy of their data, in one
    transaction, after deleting the tenant's export files (disposable copies: deleting them
    first loses nothing if the transaction then fails). Emits crm.lead.erased /
    crm.contact.erased (ids only) so consumers can drop what they kept. Returns (counts,
    replayed)."""
    email = email.strip().lower()
    key = person_key(email)
    principal = context.principal
    now = datetime.now(UTC)
    with unit_of_work(principal.tenant_id) as uow:
        claim = claim_key(uow, idempotency_key, "gdpr.erase", {"person": key})
        if claim.replay is not None:
            return claim.replay.body, True
        export_files = files.delete_prefix(export_files_prefix(principal.tenant_id))
        data = uow.personal_data
        lead_ids, contact_ids = data.record_ids_by_email(email)
        for lead_id in lead_ids:
            lead = uow.leads.get(lead_id, for_update=True, include_deleted=True)
            assert lead is not None, "found by email in this transaction"
            lead.name, lead.email, lead.phone, lead.company = ERASED, None, None, None
            lead.custom_fields = {}
            if lead.lost_reason is not None:
                lead.lost_reason = ERASED  # a lost lead keeps a reason; its text may identify
            lead.version += 1
            lead.updated_at = now
            uow.leads.update(lead)
            _erased(uow, context, RecordKind.LEAD, lead_id, now)
            uow.add_event(_erased_event(lead.tenant_id, "lead", lead_id, context))
        for contact_id in contact_ids:
            contact = uow.contacts.get(contact_id, for_update=True, include_deleted=True)
            assert contact is not None, "found by email in this transaction"
            contact.name, contact.email, contact.phone = ERASED, None, None
            contact.company, contact.job_title, contact.custom_fields = None, None, {}
            contact.version += 1
            contact.updated_at = now
            uow.contacts.update(contact)
            _erased(uow, context, RecordKind.CONTACT, contact_id, now)
            uow.add_event(_erased_event(contact.tenant_id, "contact", contact_id, context))
        subjects = [f"leads/{i}" for i in lead_ids] + [f"contacts/{i}" for i in contact_ids]
        body = {
            "person": key,
            "leads": len(lead_ids),
            "contacts": len(contact_ids),
            "history_rows": data.scrub_history(lead_ids, contact_ids),
            "notes": data.scrub_notes(lead_ids, contact_ids),
            "events": data.scrub_events(subjects),
            "stored_responses": data.scrub_stored_responses([*lead_ids, *contact_ids]),
            "emails": cast(MessagingUnitOfWork, uow).emails.scrub(email, [*lead_ids, *contact_ids]),
            "export_files": export_files,
        }
        _audit(uow, context, "gdpr.erased", email, body)
        claim.complete(200, body)
        uow.commit()
    return body, False


def _erased_event(
    tenant_id: uuid.UUID, kind: str, record_id: uuid.UUID, context: RequestContext
) -> CloudEvent:
    return CloudEvent(
        type=f"crm.{kind}.erased",
        tenant_id=tenant_id,
        subject=f"{kind}s/{record_id}",
        data={"id": str(record_id)},
        correlation_id=context.correlation_id,
    )


def _erased(
    uow: UnitOfWork,
    context: RequestContext,
    kind: RecordKind,
    record_id: uuid.UUID,
    at: datetime,
) -> None:
    change = Change.by(context.principal, kind, record_id, at)
    change.record("erased", None, None, None)
    uow.history.add(change.entries)
