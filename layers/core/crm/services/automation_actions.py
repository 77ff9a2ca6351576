"""The actions of automations (every kind but webhook), each run inside the unit of work that
holds the step's ledger row (crm.services.automation_runtime.execute_step).

The database effects go through the same use-case code a user's request runs (tag rules,
history rows, events through the outbox, audit rows), with the automation as the actor, so
effect and ledger row commit together or not at all.

send_email and send_sms are external effects: the ledger row is claimed, the message handed to
SES / SNS, its message id recorded, then the transaction commits. A crash (or a failed commit)
after the provider took the message and before the commit leaves no ledger row, and the
retried step sends again; every other retry or duplicate finds the committed row and sends
nothing.

create_task and notify_user go through the TaskBoard and Notifier ports
(crm.ports.automation_effects). Until the messaging work fills them, TimelineEffects writes a
timeline entry on the record (a history row by the automation: `task_created`,
`user_notified`) in the step's transaction.

A refusal raises ActionFailed (or the rule's own error, which execute_step turns into one)
whose message starts with the action field it is about (`to: ...`, `value: ...`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from crm.automation.model import (
    Action,
    AddTagAction,
    AssignOwnerAction,
    CreateDealAction,
    CreateNoteAction,
    CreateTaskAction,
    MoveStageAction,
    NotifyUserAction,
    RemoveTagAction,
    SendEmailAction,
    SendSmsAction,
    UpdateFieldAction,
)
from crm.domain.audit import RequestMeta
from crm.domain.automation_actions import (
    CUSTOM_PREFIX,
    ActionFailed,
    AutomationPrincipal,
    event_subject,
    field_value,
    parse_id,
    render,
    render_phone,
    render_recipient,
    render_subject,
    render_value,
)
from crm.domain.events import CloudEvent
from crm.domain.notes import Note
from crm.domain.plans import Metric
from crm.domain.records import Change, RecordKind
from crm.ports import Mailer, UnitOfWork
from crm.ports.automation_effects import Notifier, RecordAbout, SmsSender, TaskBoard
from crm.services import person_records
from crm.services.audit_logs import record_change
from crm.services.contacts import CONTACTS
from crm.services.deals import NewDeal, add_deal, change_deal, load_deal_for_change
from crm.services.leads import LEADS
from crm.services.plans import consume_quota
from crm.services.records import check_tags, write_history
from crm.services.request_context import RequestContext


def automation_context(
    tenant_id: uuid.UUID, event: CloudEvent, automation_id: uuid.UUID, run_id: uuid.UUID
) -> RequestContext:
    """The automation as the caller in the run's tenant (the one the unit of work is scoped
    to); its events keep the triggering event's correlation id, and the audit rows name the
    run as the request."""
    return RequestContext(
        principal=AutomationPrincipal.of(tenant_id, automation_id),
        correlation_id=event.correlation_id or str(event.id),
        meta=RequestMeta(request_id=f"automation-run:{run_id}"),
    )


def add_tag(
    uow: UnitOfWork, action: AddTagAction, event: CloudEvent, context: RequestContext
) -> dict[str, Any]:
    """Tag the event's lead or contact with a tag the tenant has; a no-op when it has it."""
    subject = event_subject(event.subject)
    if subject is None or subject[0] not in ("lead", "contact"):
        raise ActionFailed(
            f"add_tag needs a lead or contact event; {event.type} is about "
            f"{event.subject or 'nothing'}"
        )
    kind, record_id = subject
    spec: Any = LEADS if kind == "lead" else CONTACTS
    record = person_records.load_for_change(spec, uow, record_id, context.principal, None)
    tag = check_tags(uow, [action.tag], loc="tag")[0]
    tags = record.tags if tag in record.tags else [*record.tags, tag]
    after = person_records.apply_changes(spec, uow, record, {"tags": tags}, context)
    return {"kind": action.kind, kind: str(record_id), "tag": tag, "tags": after["tags"]}


def move_stage(
    uow: UnitOfWork, action: MoveStageAction, event: CloudEvent, context: RequestContext
) -> dict[str, Any]:
    """Move the event's deal to a stage through the deal transition rules (stage history, time
    in stage, crm.deal.stage_changed / won / lost; a lost stage needs the action's
    lost_reason). Moving a deal to the stage it is in changes nothing."""
    subject = event_subject(event.subject)
    if subject is None or subject[0] != "deal":
        raise ActionFailed(
            f"move_stage needs a deal event; {event.type} is about {event.subject or 'nothing'}"
        )
    pipeline_id = parse_id(action.pipeline_id, "pipeline_id")
    stage_id = parse_id(action.stage_id, "stage_id")
    deal = load_deal_for_change(uow, subject[1], context.principal)
    changes: dict[str, Any] = {"pipeline_id": pipeline_id, "stage_id": stage_id}
    if action.lost_reason is not None:
        changes["lost_reason"] = action.lost_reason
    after = change_deal(uow, deal, changes, context)
    return {
        "kind": action.kind,
        "deal": str(deal.id),
        "pipeline_id": after["pipeline_id"],
        "stage_id": after["stage_id"],
        "status": after["status"],
    }


def send_email(
    uow: UnitOfWork, action: SendEmailAction, event: CloudEvent, mailer: Mailer
) -> dict[str, Any]:
    """Render and send one mail, counting it against the plan's emails per day (spent quota:
    the step fails and nothing is counted, the transaction rolls back)."""
    to = render_recipient(action.to, event.data)
    subject = render_subject(action.subject, event.data)
    body = render(action.body, event.data)
    consume_quota(uow, Metric.EMAILS_PER_DAY)
    message_id = mailer.send(to, subject, body)
    return {"kind": action.kind, "to": to, "message_id": message_id}


def _json_safe(value: Any) -> Any:
    """`value` as the ledger stores it (Decimal, date and UUID as strings)."""
    return json.loads(json.dumps(value, default=str))


def _person(
    uow: UnitOfWork, kind_of_action: str, event: CloudEvent, context: RequestContext
) -> Any:
    """(kind, spec, the event's lead or contact locked for change), or ActionFailed."""
    subject = event_subject(event.subject)
    if subject is None or subject[0] not in ("lead", "contact"):
        raise ActionFailed(
            f"{kind_of_action} needs a lead or contact event; {event.type} is about "
            f"{event.subject or 'nothing'}"
        )
    kind, record_id = subject
    spec: Any = LEADS if kind == "lead" else CONTACTS
    record = person_records.load_for_change(spec, uow, record_id, context.principal, None)
    return kind, spec, record


def remove_tag(
    uow: UnitOfWork, action: RemoveTagAction, event: CloudEvent, context: RequestContext
) -> dict[str, Any]:
    """Remove a tag from the event's lead or contact; a no-op when it does not have it."""
    kind, spec, record = _person(uow, action.kind, event, context)
    tag = check_tags(uow, [action.tag], loc="tag")[0]
    tags = [name for name in record.tags if name != tag]
    after = person_records.apply_changes(spec, uow, record, {"tags": tags}, context)
    return {"kind": action.kind, kind: str(record.id), "tag": tag, "tags": after["tags"]}


def update_field(
    uow: UnitOfWork, action: UpdateFieldAction, event: CloudEvent, context: RequestContext
) -> dict[str, Any]:
    """Set one field of the event's lead, contact or deal through the PATCH code path (its
    validation, history, events and audit). Placeholders see the event data and, under
    `record`, the record as it is now."""
    subject = event_subject(event.subject)
    if subject is None:
        raise ActionFailed(
            f"update_field needs a lead, contact or deal event; {event.type} is about "
            f"{event.subject or 'nothing'}"
        )
    kind, record_id = subject
    name = action.field
    custom_key = name[len(CUSTOM_PREFIX) :] if name.startswith(CUSTOM_PREFIX) else None
    if kind == "deal":
        if custom_key is not None:
            raise ActionFailed(f"field: deals have no custom fields ({name!r})")
        deal = load_deal_for_change(uow, record_id, context.principal)
        data = {**event.data, "record": _json_safe(deal.to_dict())}
        value = field_value("deal", name, render_value(action.value, data))
        after = change_deal(uow, deal, {name: value}, context)
        return {"kind": action.kind, "deal": str(deal.id), "field": name,
                "value": _json_safe(after[name])}  # fmt: skip
    spec: Any = LEADS if kind == "lead" else CONTACTS
    record = person_records.load_for_change(spec, uow, record_id, context.principal, None)
    data = {**event.data, "record": _json_safe(record.to_dict())}
    raw = render_value(action.value, data)
    if custom_key is not None:
        changes: dict[str, Any] = {"custom_fields": {custom_key: raw}}
    else:
        changes = {name: field_value(kind, name, raw)}
    body = person_records.apply_changes(spec, uow, record, changes, context)
    now = body["custom_fields"].get(custom_key) if custom_key is not None else body[name]
    return {"kind": action.kind, kind: str(record.id), "field": name, "value": _json_safe(now)}


def assign_owner(
    uow: UnitOfWork,
    action: AssignOwnerAction,
    event: CloudEvent,
    context: RequestContext,
    *,
    step_id: str,
) -> dict[str, Any]:
    """Give the event's lead, contact or deal an owner: the named user, or the next one of the
    rotation of this automation's step. The rotation row stays locked until the step's
    transaction ends, so concurrent runs take turns: each pick moves it by exactly one, and a
    step that fails later rolls its pick back."""
    subject = event_subject(event.subject)
    if subject is None:
        raise ActionFailed(
            f"assign_owner needs a lead, contact or deal event; {event.type} is about "
            f"{event.subject or 'nothing'}"
        )
    kind, record_id = subject
    rotations = uow.owner_rotations
    picked: dict[str, Any] = {}
    if action.user_id is not None:
        owner = parse_id(action.user_id, "user_id")
        if not rotations.active_users([owner]):
            raise ActionFailed(f"user_id: {owner} is not an active user of this organisation")
    else:
        pool = action.round_robin
        assert pool is not None
        if pool.user_ids is not None:
            ids = [parse_id(raw, "round_robin.user_ids") for raw in pool.user_ids]
            candidates = rotations.active_users(ids)
            where = "round_robin.user_ids"
        else:
            assert pool.role is not None
            candidates = rotations.active_users_with_role(pool.role)
            where = "round_robin.role"
        if not candidates:
            raise ActionFailed(f"{where}: no active user to assign")
        automation_id = context.principal.actor_id
        assert automation_id is not None
        position = rotations.lock_position(automation_id, step_id)
        owner = candidates[position % len(candidates)]
        rotations.set_position(automation_id, step_id, position + 1)
        picked = {"rotation_position": position, "pool_size": len(candidates)}
    if kind == "deal":
        deal = load_deal_for_change(uow, record_id, context.principal)
        after = change_deal(uow, deal, {"owner_id": owner}, context)
    else:
        spec: Any = LEADS if kind == "lead" else CONTACTS
        record = person_records.load_for_change(spec, uow, record_id, context.principal, None)
        after = person_records.apply_changes(spec, uow, record, {"owner_id": owner}, context)
    return {"kind": action.kind, kind: str(record_id), "owner_id": str(after["owner_id"]),
            **picked}  # fmt: skip


def create_deal(
    uow: UnitOfWork, action: CreateDealAction, event: CloudEvent, context: RequestContext
) -> dict[str, Any]:
    """A deal linked to the event's lead or contact, owned by its owner, through the deal
    creation rules (pipeline not archived, stage of that pipeline, stage history, events)."""
    kind, _spec, record = _person(uow, action.kind, event, context)
    data = {**event.data, "record": _json_safe(record.to_dict())}
    title = render(action.title, data).strip()
    if not title or len(title) > 200 or "\n" in title or "\r" in title:
        raise ActionFailed(f"title: the rendered title {title[:40]!r} is not 1-200 characters")
    command = NewDeal(
        title=title,
        value=Decimal(action.value) if action.value is not None else Decimal("0"),
        currency=action.currency,
        owner_id=record.owner_id,
        assign_to_caller=False,
        lead_id=record.id if kind == "lead" else None,
        contact_id=record.id if kind == "contact" else None,
        pipeline_id=parse_id(action.pipeline_id, "pipeline_id"),
        stage_id=parse_id(action.stage_id, "stage_id") if action.stage_id is not None else None,
    )
    deal = add_deal(uow, command, context, datetime.now(UTC))
    return {"kind": action.kind, kind: str(record.id), "deal": str(deal.id),
            "pipeline_id": str(deal.pipeline_id), "stage_id": str(deal.stage_id)}  # fmt: skip


def create_note(
    uow: UnitOfWork, action: CreateNoteAction, event: CloudEvent, context: RequestContext
) -> dict[str, Any]:
    """A note on the event's lead or contact by the automation (audited like a user's)."""
    kind, _spec, record = _person(uow, action.kind, event, context)
    body = render(action.body, {**event.data, "record": _json_safe(record.to_dict())}).strip()
    if not body or len(body) > 10_000:
        raise ActionFailed("body: the rendered note is empty or longer than 10000 characters")
    record_kind = RecordKind(kind)
    note = Note(record_kind, record.id, body, context.principal.actor_id)
    uow.notes.add(note)
    record_change(
        uow, context.principal, f"{kind}.note_added", entity_type=kind,
        entity_id=str(record.id), before=None, after={"note_id": str(note.id)},
        meta=context.meta,
    )  # fmt: skip
    return {"kind": action.kind, kind: str(record.id), "note": str(note.id)}


def _recipient(uow: UnitOfWork, who: str, owner_id: Any, what: str) -> uuid.UUID:
    """`owner` -> the record's owner; else the named user, who must be active."""
    if who == "owner":
        if owner_id is None:
            raise ActionFailed(f"{what}: the record has no owner")
        return uuid.UUID(str(owner_id))
    user_id = parse_id(who, what)
    if not uow.owner_rotations.active_users([user_id]):
        raise ActionFailed(f"{what}: {user_id} is not an active user of this organisation")
    return user_id


def create_task(
    uow: UnitOfWork,
    action: CreateTaskAction,
    event: CloudEvent,
    context: RequestContext,
    tasks: TaskBoard,
) -> dict[str, Any]:
    kind, _spec, record = _person(uow, action.kind, event, context)
    data = {**event.data, "record": _json_safe(record.to_dict())}
    assignee = _recipient(uow, action.assignee, record.owner_id, "assignee")
    due_at = (
        datetime.now(UTC) + timedelta(days=action.due_in_days)
        if action.due_in_days is not None
        else None
    )
    created = tasks.create_task(
        uow, RecordAbout(RecordKind(kind), record.id), title=render_subject(action.title, data),
        assignee_id=assignee, due_at=due_at, context=context,
    )  # fmt: skip
    return {"kind": action.kind, kind: str(record.id), **created}


def notify_user(
    uow: UnitOfWork,
    action: NotifyUserAction,
    event: CloudEvent,
    context: RequestContext,
    notifier: Notifier,
) -> dict[str, Any]:
    kind, _spec, record = _person(uow, action.kind, event, context)
    data = {**event.data, "record": _json_safe(record.to_dict())}
    user_id = _recipient(uow, action.user, record.owner_id, "user")
    message = render(action.message, data).strip()
    if not message:
        raise ActionFailed("message: the rendered message is empty")
    sent = notifier.notify(
        uow, RecordAbout(RecordKind(kind), record.id), user_id=user_id, message=message,
        context=context,
    )  # fmt: skip
    return {"kind": action.kind, kind: str(record.id), **sent}


def send_sms(
    uow: UnitOfWork, action: SendSmsAction, event: CloudEvent, sms: SmsSender
) -> dict[str, Any]:
    """Render and send one text message, counting it against the plan's SMS per day (spent
    quota: the step fails and nothing is counted)."""
    to = render_phone(action.to, event.data)
    message = render(action.message, event.data).strip()
    if not message or len(message) > 1600:
        raise ActionFailed("message: the rendered message is empty or longer than 1600 characters")
    consume_quota(uow, Metric.SMS_PER_DAY)
    message_id = sms.send(to, message)
    return {"kind": action.kind, "to": to, "message_id": message_id}


class TimelineEffects:
    """TaskBoard and Notifier until the messaging work lands: a timeline entry on the record
    (a history row by the automation), so the record shows the task or the notification and
    who it is for."""

    def create_task(
        self,
        uow: UnitOfWork,
        record: RecordAbout,
        *,
        title: str,
        assignee_id: uuid.UUID,
        due_at: datetime | None,
        context: RequestContext,
    ) -> dict[str, Any]:
        task = {
            "title": title,
            "assignee_id": str(assignee_id),
            "due_at": due_at.isoformat() if due_at is not None else None,
        }
        self._entry(uow, record, "task_created", "task", task, context)
        return {"task": task, "delivered_as": "timeline_entry"}

    def notify(
        self,
        uow: UnitOfWork,
        record: RecordAbout,
        *,
        user_id: uuid.UUID,
        message: str,
        context: RequestContext,
    ) -> dict[str, Any]:
        notification = {"user_id": str(user_id), "message": message}
        self._entry(uow, record, "user_notified", "notification", notification, context)
        return {"notification": notification, "delivered_as": "timeline_entry"}

    @staticmethod
    def _entry(
        uow: UnitOfWork,
        record: RecordAbout,
        action: str,
        field_name: str,
        value: dict[str, Any],
        context: RequestContext,
    ) -> None:
        change = Change.by(context.principal, record.kind, record.id, datetime.now(UTC))
        change.record(action, field_name, None, value)
        write_history(uow, change)


class NotWired(Exception):
    """The action needs an effect (mailer, SMS sender) the caller did not provide."""


@dataclass(frozen=True)
class ActionEffects:
    """What the actions reach besides the database; tasks and notifications default to the
    timeline."""

    mailer: Mailer | None = None
    sms: SmsSender | None = None
    tasks: TaskBoard | None = None
    notifier: Notifier | None = None


def perform(
    uow: UnitOfWork,
    action: Action,
    event: CloudEvent,
    context: RequestContext,
    *,
    step_id: str,
    effects: ActionEffects,
) -> dict[str, Any]:
    """Run one action (not webhook) in `uow`; the caller holds the ledger row and commits."""
    timeline = TimelineEffects()
    if isinstance(action, AddTagAction):
        return add_tag(uow, action, event, context)
    if isinstance(action, RemoveTagAction):
        return remove_tag(uow, action, event, context)
    if isinstance(action, MoveStageAction):
        return move_stage(uow, action, event, context)
    if isinstance(action, UpdateFieldAction):
        return update_field(uow, action, event, context)
    if isinstance(action, AssignOwnerAction):
        return assign_owner(uow, action, event, context, step_id=step_id)
    if isinstance(action, CreateDealAction):
        return create_deal(uow, action, event, context)
    if isinstance(action, CreateNoteAction):
        return create_note(uow, action, event, context)
    if isinstance(action, CreateTaskAction):
        return create_task(uow, action, event, context, effects.tasks or timeline)
    if isinstance(action, NotifyUserAction):
        return notify_user(uow, action, event, context, effects.notifier or timeline)
    if isinstance(action, SendEmailAction):
        if effects.mailer is None:
            raise NotWired(action.kind)
        return send_email(uow, action, event, effects.mailer)
    if isinstance(action, SendSmsAction):
        if effects.sms is None:
            raise NotWired(action.kind)
        return send_sms(uow, action, event, effects.sms)
    raise NotWired(action.kind)
