"""The record actions of automations (add_tag, move_stage, send_email), each run inside the unit
of work that holds the step's ledger row (crm.services.automation_runtime.execute_step).

The database effects go through the same use-case code a user's request runs (tag rules,
history rows, events through the outbox, audit rows), with the automation as the actor, so
effect and ledger row commit together or not at all.

send_email is an external effect: the ledger row is claimed, the mail handed to SES, its
message id recorded, then the transaction commits. A crash (or a failed commit) after SES took
the mail and before the commit leaves no ledger row, and the retried step sends again; every
other retry or duplicate finds the committed row and sends nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from crm.automation.model import AddTagAction, MoveStageAction, SendEmailAction
from crm.domain.audit import RequestMeta
from crm.domain.automation_actions import (
    ActionFailed,
    AutomationPrincipal,
    event_subject,
    parse_id,
    render,
    render_recipient,
    render_subject,
)
from crm.domain.events import CloudEvent
from crm.domain.plans import Metric
from crm.ports import Mailer, UnitOfWork
from crm.services import person_records
from crm.services.contacts import CONTACTS
from crm.services.deals import change_deal, load_deal_for_change
from crm.services.leads import LEADS
from crm.services.plans import consume_quota
from crm.services.records import check_tags
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
