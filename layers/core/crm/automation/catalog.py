"""GET /actions: every action kind with its JSON Schema and an example, generated from the
workflow model (crm.automation.model), so the catalogue cannot drift from what a workflow
accepts. tests/unit/test_action_catalog.py validates every example against the model."""

from __future__ import annotations

import inspect
from typing import Any, Final

from crm.automation.model import ACTION_MODELS

_USER = "0b6f3c9e-4a4e-4d7b-9c1d-2f1e7a9b8c01"
_USER_2 = "5d2a8f6b-13c4-4e5f-8a7b-9c0d1e2f3a4b"
_PIPELINE = "7c1e2d3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
_STAGE = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"

EXAMPLES: Final[dict[str, dict[str, Any]]] = {
    "webhook": {
        "kind": "webhook",
        "url": "https://hooks.example.com/crm",
        "headers": {"X-Team": "sales"},
    },
    "add_tag": {"kind": "add_tag", "tag": "vip"},
    "remove_tag": {"kind": "remove_tag", "tag": "cold", "on_error": "continue"},
    "send_email": {
        "kind": "send_email",
        "to": "{{lead.email}}",
        "subject": "Welcome, {{lead.name}}",
        "body": "Hi {{lead.name}}, thanks for your interest.",
    },
    "move_stage": {"kind": "move_stage", "pipeline_id": _PIPELINE, "stage_id": _STAGE},
    "update_field": {"kind": "update_field", "field": "custom_fields.segment", "value": "smb"},
    "assign_owner": {"kind": "assign_owner", "round_robin": {"user_ids": [_USER, _USER_2]}},
    "create_deal": {
        "kind": "create_deal",
        "title": "{{lead.company}} - first order",
        "pipeline_id": _PIPELINE,
        "value": "1500.00",
    },
    "create_note": {"kind": "create_note", "body": "Came in through {{lead.source}}."},
    "create_task": {
        "kind": "create_task",
        "title": "Call {{lead.name}}",
        "assignee": "owner",
        "due_in_days": 1,
    },
    "notify_user": {"kind": "notify_user", "user": "owner", "message": "New lead: {{lead.name}}"},
    "send_sms": {"kind": "send_sms", "to": "{{lead.phone}}", "message": "Thanks, {{lead.name}}!"},
}


# Kinds whose model has no docstring of its own.
_DESCRIPTIONS: Final[dict[str, str]] = {
    "webhook": "POST the run's event as JSON to `url` (with optional headers) and record the "
    "response status.",
}
ON_ERROR = (
    "`on_error`: `fail` (default) stops the run at a failed step; `continue` records the error "
    "as the step's result and goes on with the next step."
)


def action_catalog() -> list[dict[str, Any]]:
    """One entry per action kind, in the model's order."""
    items = []
    for model in ACTION_MODELS:
        kind = model.model_fields["kind"].annotation.__args__[0]  # type: ignore[union-attr]
        items.append(
            {
                "kind": kind,
                "description": inspect.cleandoc(model.__doc__ or _DESCRIPTIONS[kind]),
                "schema": model.model_json_schema(),
                "example": EXAMPLES[kind],
            }
        )
    return items


def catalog_body() -> dict[str, Any]:
    return {"on_error": ON_ERROR, "items": action_catalog()}
