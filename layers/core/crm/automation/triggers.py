"""Which events a trigger accepts (pure), and the trigger kinds as GET /triggers lists them.

The router selects the automations whose live version listens to an event's type, then asks
`trigger_matches` whether the event's data passes the trigger's parameters (the field that
changed, the stage moved to, the tag added, ...).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, TypeAdapter

from crm.automation.model import (
    DealClosedTrigger,
    DealStageChangedTrigger,
    EventTrigger,
    FieldChangedTrigger,
    LeadStatusChangedTrigger,
    OwnerAssignedTrigger,
    RecordEventTrigger,
    TagTrigger,
    Trigger,
)

_TRIGGER = TypeAdapter[Any](Trigger)


def parse_trigger(data: dict[str, Any]) -> Any:
    return _TRIGGER.validate_python(data)


def trigger_matches(trigger: Any, data: dict[str, Any]) -> bool:
    """Does an event of `trigger.event`'s type with this `data` start a run?"""
    if isinstance(trigger, EventTrigger | RecordEventTrigger):
        return True
    if isinstance(trigger, FieldChangedTrigger):
        return _field_changed(trigger, data)
    if isinstance(trigger, DealStageChangedTrigger):
        deal = data.get("deal") or {}
        return (
            _same(trigger.pipeline_id, deal.get("pipeline_id"))
            and _same(trigger.from_stage_id, (data.get("from_stage") or {}).get("id"))
            and _same(trigger.to_stage_id, (data.get("to_stage") or {}).get("id"))
        )
    if isinstance(trigger, DealClosedTrigger):
        return _same(trigger.pipeline_id, (data.get("deal") or {}).get("pipeline_id"))
    if isinstance(trigger, LeadStatusChangedTrigger):
        return _same(trigger.from_, data.get("from_status")) and _same(
            trigger.to, data.get("to_status")
        )
    if isinstance(trigger, TagTrigger):
        changed = data.get("added" if trigger.kind == "tag_added" else "removed") or []
        return bool(changed) if trigger.tag is None else trigger.tag in changed
    if isinstance(trigger, OwnerAssignedTrigger):
        if trigger.record == "deal":
            change = (data.get("changes") or {}).get("owner_id")
            if not isinstance(change, dict):
                return False
            owner = change.get("new")
        else:
            owner = data.get("to_owner_id")
        return owner is not None and _same(trigger.owner_id, owner)
    raise TypeError(f"unknown trigger {trigger!r}")


def _same(wanted: Any, actual: Any) -> bool:
    """An unset parameter accepts anything; ids compare as strings."""
    return wanted is None or (actual is not None and str(wanted) == str(actual))


_MISSING = object()


def _field_changed(trigger: FieldChangedTrigger, data: dict[str, Any]) -> bool:
    changes = data.get("changes") or {}
    old: Any
    new: Any
    if trigger.field in changes:
        change = changes[trigger.field]
        old, new = change.get("old"), change.get("new")
    elif trigger.field.startswith("custom_fields.") and "custom_fields" in changes:
        key = trigger.field.removeprefix("custom_fields.")
        change = changes["custom_fields"]
        old = (change.get("old") or {}).get(key, _MISSING)
        new = (change.get("new") or {}).get(key, _MISSING)
        if old == new:
            return False
        old, new = (None if old is _MISSING else old), (None if new is _MISSING else new)
    else:
        return False
    if trigger.has_from and old != trigger.from_:
        return False
    return not (trigger.has_to and new != trigger.to)


_KINDS: tuple[tuple[str, type[BaseModel], str, dict[str, Any]], ...] = (
    (
        "event",
        EventTrigger,
        "Any event of the catalog (GET /events/catalog), by its type.",
        {"kind": "event", "event": "crm.lead.created"},
    ),
    (
        "record_event",
        RecordEventTrigger,
        "A lead, contact or deal was created, updated, deleted or restored.",
        {"kind": "record_event", "record": "deal", "action": "created"},
    ),
    (
        "field_changed",
        FieldChangedTrigger,
        "A field of a record changed (custom fields as custom_fields.<key>), optionally from"
        " and/or to a value.",
        {"kind": "field_changed", "record": "lead", "field": "score", "to": 90},
    ),
    (
        "deal_stage_changed",
        DealStageChangedTrigger,
        "A deal moved to another stage; pipeline, from stage and to stage narrow it.",
        {"kind": "deal_stage_changed", "to_stage_id": "8a4c2f64-5bd1-4d83-a7c4-4b1f5e0d4a11"},
    ),
    ("deal_won", DealClosedTrigger, "A deal was won.", {"kind": "deal_won"}),
    ("deal_lost", DealClosedTrigger, "A deal was lost.", {"kind": "deal_lost"}),
    (
        "lead_status_changed",
        LeadStatusChangedTrigger,
        "A lead's status changed, optionally from and/or to a status.",
        {"kind": "lead_status_changed", "to": "qualified"},
    ),
    (
        "tag_added",
        TagTrigger,
        "A tag was added to a lead or contact (any tag when none is named).",
        {"kind": "tag_added", "record": "lead", "tag": "vip"},
    ),
    (
        "tag_removed",
        TagTrigger,
        "A tag was removed from a lead or contact.",
        {"kind": "tag_removed", "record": "contact", "tag": "newsletter"},
    ),
    (
        "owner_assigned",
        OwnerAssignedTrigger,
        "A record got an owner (a given user when owner_id is set).",
        {"kind": "owner_assigned", "record": "lead"},
    ),
)


def trigger_catalog() -> list[dict[str, Any]]:
    """Every trigger kind with its parameters as JSON Schema and an example."""
    kinds = []
    for kind, model, description, example in _KINDS:
        schema = model.model_json_schema(by_alias=True)
        kind_schema = schema["properties"]["kind"]
        kind_schema.pop("enum", None)
        kind_schema.pop("default", None)
        kind_schema["const"] = kind
        if kind != "event":
            schema.setdefault("required", [])
            if "kind" not in schema["required"]:
                schema["required"].insert(0, "kind")
        kinds.append(
            {
                "kind": kind,
                "description": description,
                "event": parse_trigger(example).event,
                "parameters": schema,
                "example": example,
            }
        )
    return kinds
