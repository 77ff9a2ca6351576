"""Notes on leads and contacts, and their timelines: the record's changes, notes, the
automation runs its events started, the emails sent to it and its tasks, newest first. A
merged lead's timeline includes the lead merged into it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, cast

from crm.domain.notes import Note
from crm.domain.pagination import Page, PageRequest
from crm.domain.records import RecordKind
from crm.domain.tenants import Principal
from crm.domain.timeline import (
    TimelineItem,
    change_item,
    email_item,
    merge_newest,
    note_item,
    run_item,
    task_item,
)
from crm.ports import UnitOfWork, UnitOfWorkFactory
from crm.ports.messaging import MessagingUnitOfWork
from crm.ports.tasks import TasksUnitOfWork
from crm.services.audit_logs import record_change
from crm.services.contacts import load_contact
from crm.services.idempotency import claim_key
from crm.services.records import may_see, not_found
from crm.services.request_context import RequestContext


def _record_ids(
    uow: UnitOfWork, kind: RecordKind, record_id: uuid.UUID, principal: Principal
) -> list[uuid.UUID]:
    """The record (live or deleted: its timeline stays readable) and, for a lead, the leads
    merged into it; 404 for what the caller cannot see."""
    if kind is RecordKind.CONTACT:
        return [load_contact(uow, record_id, principal, include_deleted=True).id]
    lead = uow.leads.get(record_id, include_deleted=True)
    if lead is None or not may_see(principal, lead.owner_id):
        raise not_found(kind, record_id)
    return [lead.id, *uow.leads.merged_into(lead.id)]


def add_note(
    kind: RecordKind,
    record_id: uuid.UUID,
    body: str,
    context: RequestContext,
    *,
    unit_of_work: UnitOfWorkFactory,
    idempotency_key: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """A note on a live record the caller can see. Returns (note, replayed)."""
    principal = context.principal
    with unit_of_work(principal.tenant_id) as uow:
        claim = claim_key(
            uow, idempotency_key, f"{kind.plural}.notes", {"id": str(record_id), "body": body}
        )
        if claim.replay is not None:
            return claim.replay.body, True
        record = (
            uow.leads.get(record_id) if kind is RecordKind.LEAD else uow.contacts.get(record_id)
        )
        if record is None or not may_see(principal, record.owner_id):
            raise not_found(kind, record_id)
        note = Note(kind, record_id, body, principal.user_id, created_at=datetime.now(UTC))
        uow.notes.add(note)
        # The audit row names the note, not its text (personal data GDPR may have to erase).
        record_change(
            uow, principal, f"{kind.value}.note_added", entity_type=kind.value,
            entity_id=str(record_id), before=None, after={"note_id": str(note.id)},
            meta=context.meta,
        )  # fmt: skip
        result = note.to_dict()
        claim.complete(201, result)
        uow.commit()
    return result, False


def timeline(
    kind: RecordKind,
    record_id: uuid.UUID,
    principal: Principal,
    page: PageRequest,
    *,
    unit_of_work: UnitOfWorkFactory,
) -> Page[TimelineItem]:
    with unit_of_work(principal.tenant_id) as uow:
        ids = _record_ids(uow, kind, record_id, principal)
        fetch = page.limit + 1
        changes = [change_item(e) for e in uow.history.newest(kind, ids, page.after, fetch)]
        notes = [note_item(n) for n in uow.notes.newest(kind, ids, page.after, fetch)]
        subjects = [f"{kind.plural}/{i}" for i in ids]
        runs = [run_item(r) for r in uow.record_runs.newest(subjects, page.after, fetch)]
        sent = cast(MessagingUnitOfWork, uow).emails.for_records(kind.value, ids, page.after, fetch)
        emails = [email_item(e) for e in sent]
        linked = cast(TasksUnitOfWork, uow).tasks.for_records(kind.value, ids, page.after, fetch)
        tasks = [task_item(t) for t in linked]
    return merge_newest([changes, notes, runs, emails, tasks], page.limit)
