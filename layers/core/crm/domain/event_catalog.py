"""The event catalog: every event type the platform publishes, with the pydantic model of its
`data`. This is the one place a new event type is added. The unit of work refuses an event
whose type is missing here or whose data does not match its model, so the catalog cannot drift
from what is published; GET /events/catalog and docs/events.md are generated from it."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crm.domain import deal_event_data as deal_data
from crm.domain.events import CloudEvent
from crm.domain.leads import LeadStatus


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LeadSnapshot(_Data):
    """The lead as it was written by the change that emitted the event."""

    id: uuid.UUID
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(description="lower-cased")
    phone: str | None
    company: str | None
    source: str | None = Field(description="where the lead came from, e.g. web, import")
    status: LeadStatus
    owner_id: uuid.UUID | None
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    version: int = Field(ge=1, description="the lead's version; grows by one per change")


class LeadCreatedData(_Data):
    lead: LeadSnapshot


@dataclass(frozen=True)
class EventType:
    name: str  # e.g. crm.lead.created: the CloudEvent's type and the routing key
    description: str
    subject: str  # how the subject (the aggregate) is formed
    data_model: type[BaseModel]

    def data_schema(self) -> dict[str, Any]:
        return self.data_model.model_json_schema()


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

CATALOG: dict[str, EventType] = {
    spec.name: spec
    for spec in (
        EventType(
            name="crm.lead.created",
            description="A lead was created (API, import or automation).",
            subject="leads/{lead id}",
            data_model=LeadCreatedData,
        ),
        *PIPELINE_AND_DEAL_EVENTS,
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
