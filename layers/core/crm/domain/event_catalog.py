"""The event catalog: every event type the platform publishes, with the pydantic model of its
`data`. This is the one place a new event type is added. The unit of work refuses an event
whose type is missing here or whose data does not match its model, so the catalog cannot drift
from what is published; GET /events/catalog and docs/events.md are generated from it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from crm.domain import automation_run_events as run_events
from crm.domain import deal_event_data as deal_data
from crm.domain import email_event_data as email_data
from crm.domain import record_event_data as record_data
from crm.domain.events import CloudEvent


@dataclass(frozen=True)
class EventType:
    name: str  # e.g. crm.lead.created: the CloudEvent's type and the routing key
    description: str
    subject: str  # how the subject (the aggregate) is formed
    data_model: type[BaseModel]

    def data_schema(self) -> dict[str, Any]:
        return self.data_model.model_json_schema()


def _lead(name: str, description: str, model: type[BaseModel]) -> EventType:
    return EventType(f"crm.lead.{name}", description, "leads/{lead id}", model)


def _contact(name: str, description: str, model: type[BaseModel]) -> EventType:
    return EventType(f"crm.contact.{name}", description, "contacts/{contact id}", model)


LEAD_AND_CONTACT_EVENTS = (
    _lead("created", "A lead was created (API, import or automation).", record_data.LeadData),
    _lead(
        "updated",
        "Fields of a lead changed (also when status, owner or tags did: their own events follow).",
        record_data.LeadUpdatedData,
    ),
    _lead(
        "status_changed",
        "A lead's status changed (a lost lead carries the reason).",
        record_data.LeadStatusChangedData,
    ),
    _lead("assigned", "A lead got another owner (or none).", record_data.LeadAssignedData),
    EventType(
        "crm.lead.imported",
        "Leads were created by an import: one event per batch (up to 1,000 leads), instead of"
        " a crm.lead.created per lead (a bulk import does not start a workflow per row).",
        "imports/{import id}",
        record_data.LeadsImportedData,
    ),
    _lead("tagged", "Tags were added to or removed from a lead.", record_data.LeadTaggedData),
    _lead("deleted", "A lead was deleted (soft: restorable for 30 days).", record_data.LeadData),
    _lead("restored", "A deleted lead was restored.", record_data.LeadData),
    _lead(
        "converted",
        "A lead was converted into a contact (and maybe a deal).",
        record_data.LeadConvertedData,
    ),
    _lead(
        "merged",
        "Another lead was merged into this one (the other is deleted; both histories stay).",
        record_data.LeadMergedData,
    ),
    _lead(
        "erased",
        "A lead's personal data was erased (GDPR); the record stays, anonymised.",
        record_data.RecordErasedData,
    ),
    _contact("created", "A contact was created (API or lead conversion).", record_data.ContactData),
    _contact(
        "updated",
        "Fields of a contact changed (owner or tags too: their own events follow).",
        record_data.ContactUpdatedData,
    ),
    _contact("assigned", "A contact got another owner (or none).", record_data.ContactAssignedData),
    _contact(
        "tagged", "Tags were added to or removed from a contact.", record_data.ContactTaggedData
    ),
    _contact(
        "deleted", "A contact was deleted (soft: restorable for 30 days).", record_data.ContactData
    ),
    _contact("restored", "A deleted contact was restored.", record_data.ContactData),
    _contact(
        "erased",
        "A contact's personal data was erased (GDPR); the record stays, anonymised.",
        record_data.RecordErasedData,
    ),
)


PIPELINE_AND_DEAL_EVENTS = (
    EventType(
        name="crm.pipeline.created",
        description="A pipeline was created (sign-up creates the default one).",
        subject="pipelines/{pipeline id}",
        data_model=deal_data.PipelineCreatedData,
    ),
    EventType(
        name="crm.pipeline.updated",
        description="A pipeline was renamed, archived or restored, made the default (or stopped"
        " being it), or its stages were edited.",
        subject="pipelines/{pipeline id}",
        data_model=deal_data.PipelineUpdatedData,
    ),
    EventType(
        name="crm.deal.created",
        description="A deal was created.",
        subject="deals/{deal id}",
        data_model=deal_data.DealData,
    ),
    EventType(
        name="crm.deal.updated",
        description="Fields of a deal changed (a stage move too: then crm.deal.stage_changed"
        " follows).",
        subject="deals/{deal id}",
        data_model=deal_data.DealUpdatedData,
    ),
    EventType(
        name="crm.deal.stage_changed",
        description="A deal moved to another stage (maybe of another pipeline), with the time"
        " it spent in the previous one.",
        subject="deals/{deal id}",
        data_model=deal_data.DealStageChangedData,
    ),
    EventType(
        name="crm.deal.won",
        description="A deal entered a won stage (moved or created there).",
        subject="deals/{deal id}",
        data_model=deal_data.DealData,
    ),
    EventType(
        name="crm.deal.lost",
        description="A deal entered a lost stage (moved or created there), with the reason.",
        subject="deals/{deal id}",
        data_model=deal_data.DealLostData,
    ),
    EventType(
        name="crm.deal.deleted",
        description="A deal was deleted (soft: it can be restored).",
        subject="deals/{deal id}",
        data_model=deal_data.DealData,
    ),
    EventType(
        name="crm.deal.restored",
        description="A deleted deal was restored.",
        subject="deals/{deal id}",
        data_model=deal_data.DealData,
    ),
)

MESSAGING_EVENTS = (
    EventType(
        name="crm.email.requested",
        description="An email was queued (API, invitation, password reset or automation); the"
        " email worker (q.email) sends it. Its status is on GET /emails/{id}.",
        subject="emails/{email id}",
        data_model=email_data.EmailRequestedData,
    ),
)


def _task(name: str, description: str) -> EventType:
    return EventType(f"crm.task.{name}", description, "tasks/{task id}", email_data.TaskEventData)


TASK_EVENTS = (
    _task("created", "A task was created (assigned to its assignee, if any)."),
    _task("updated", "A task's title, type, due moment, link or notes changed."),
    _task(
        "assigned",
        "A task got another assignee (or none); previous_assignee_id says who had it.",
    ),
    _task("completed", "A task was marked done."),
    _task("reopened", "A done task was marked not done again."),
    _task("deleted", "A task was deleted."),
    EventType(
        "crm.notification.created",
        "A user got an in-app notification (GET /notifications); pushed over the WebSocket to"
        " that user's connections only.",
        "notifications/{notification id}",
        email_data.NotificationCreatedData,
    ),
)


def _run(name: str, description: str) -> EventType:
    return EventType(
        f"crm.automation.{name}",
        description,
        "automation-runs/{run id}",
        run_events.AutomationRunData,
    )


AUTOMATION_RUN_EVENTS = (
    _run("run_started", "An automation run started (or started again: a retry, attempt 2+)."),
    _run("run_succeeded", "An automation run reached its end."),
    _run("run_failed", "An automation run failed (or timed out, or was stopped in the engine)."),
    _run("run_cancelled", "An automation run was cancelled (by a person, or by archiving)."),
    _run("run_exited", "An automation run ended early: its exit condition matched."),
    EventType(
        "crm.automation.record_enrolled",
        "A person enrolled a record in an automation (POST /automations/{id}/enrol): the event"
        " its run starts with, carrying the record like a record event.",
        "leads/{lead id}, contacts/{contact id} or deals/{deal id}",
        run_events.RecordEnrolledData,
    ),
)

CATALOG: dict[str, EventType] = {
    spec.name: spec
    for spec in (
        *LEAD_AND_CONTACT_EVENTS,
        *PIPELINE_AND_DEAL_EVENTS,
        *MESSAGING_EVENTS,
        *TASK_EVENTS,
        *AUTOMATION_RUN_EVENTS,
    )
}

ENVELOPE_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("specversion", '"1.0"'),
    ("id", "event id (UUID); consumers deduplicate on it"),
    ("source", '"crm"'),
    ("type", "one of the types below; also the RabbitMQ routing key"),
    ("time", "when the change happened (RFC 3339, UTC)"),
    ("subject", "the aggregate the event is about, e.g. leads/{lead id}"),
    ("datacontenttype", '"application/json"'),
    ("data", "the payload; its JSON Schema per type is below"),
    ("tenantid", "the tenant (UUID)"),
    ("correlationid", "optional: the request that caused it (X-Correlation-Id)"),
    ("causationid", "optional: the event that caused it"),
    ("aggregatesequence", "1, 2, 3, ... per subject, in commit order of the outbox writes"),
)


class UnknownEventType(ValueError):
    def __init__(self, event_type: str) -> None:
        super().__init__(
            f"event type {event_type!r} is not in the event catalog: add it (with the pydantic "
            "model of its data) to crm/domain/event_catalog.py"
        )


class InvalidEventData(ValueError):
    def __init__(self, event_type: str, error: ValidationError) -> None:
        super().__init__(f"the data of a {event_type} event does not match its model: {error}")


def validate_event(event: CloudEvent) -> None:
    """Raise unless the event's type is catalogued and its data matches the type's model."""
    spec = CATALOG.get(event.type)
    if spec is None:
        raise UnknownEventType(event.type)
    try:
        spec.data_model.model_validate(event.data)
    except ValidationError as error:
        raise InvalidEventData(event.type, error) from error


def catalog_document() -> dict[str, Any]:
    """The catalog as GET /events/catalog serves it."""
    return {
        "specversion": "1.0",
        "envelope": [{"attribute": name, "meaning": text} for name, text in ENVELOPE_ATTRIBUTES],
        "events": [
            {
                "type": spec.name,
                "description": spec.description,
                "subject": spec.subject,
                "data_schema": spec.data_schema(),
            }
            for spec in sorted(CATALOG.values(), key=lambda spec: spec.name)
        ],
    }


def render_markdown() -> str:
    """docs/events.md (a unit test fails when the file differs from this)."""
    lines = [
        "# Event catalog",
        "",
        "Generated from `layers/core/crm/domain/event_catalog.py` by",
        "`python scripts/event_catalog.py`; do not edit by hand. Also served at",
        "`GET /events/catalog`.",
        "",
        "Every event is a CloudEvents 1.0 JSON envelope published to the topic exchange",
        "`crm.events` with its `type` as the routing key. Delivery is at-least-once; consumers",
        "deduplicate on `id`.",
        "",
        "| Attribute | Meaning |",
        "|---|---|",
        *(f"| `{name}` | {text} |" for name, text in ENVELOPE_ATTRIBUTES),
        "",
    ]
    for spec in sorted(CATALOG.values(), key=lambda spec: spec.name):
        lines += [
            f"## `{spec.name}`",
            "",
            spec.description,
            "",
            f"Subject: `{spec.subject}`",
            "",
            "`data` schema:",
            "",
            "```json",
            json.dumps(spec.data_schema(), indent=2, sort_keys=True),
            "```",
            "",
        ]
    return "\n".join(lines)
