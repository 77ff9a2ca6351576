"""GET /actions' catalogue and the rules of update_field: every action kind is listed with a
schema and an example the model accepts, and update_field validates a field as its PATCH
does."""

from __future__ import annotations

from typing import Any

import pytest
from crm.api.deal_schemas import DealPatch
from crm.api.record_schemas import ContactPatch, LeadPatch
from crm.automation.catalog import EXAMPLES, action_catalog
from crm.automation.compiler import compile_workflow
from crm.automation.model import ACTION_MODELS, Action, Workflow
from crm.domain.automation_actions import (
    UPDATABLE_FIELDS,
    ActionFailed,
    field_value,
    render_phone,
    render_value,
)
from jsonschema import Draft202012Validator
from pydantic import BaseModel, TypeAdapter, ValidationError

ACTION = TypeAdapter[Action](Action)


def test_the_catalogue_lists_every_kind_with_a_schema_and_an_example_the_model_accepts() -> None:
    items = action_catalog()
    kinds = [item["kind"] for item in items]
    assert len(kinds) == len(ACTION_MODELS) == len(set(kinds)) == len(EXAMPLES)
    for item in items:
        assert item["description"], item["kind"]
        Draft202012Validator.check_schema(item["schema"])
        Draft202012Validator(item["schema"]).validate(item["example"])
        assert ACTION.validate_python(item["example"]).kind == item["kind"]


def test_the_catalogue_schema_refuses_what_the_model_refuses() -> None:
    schema = next(i["schema"] for i in action_catalog() if i["kind"] == "send_sms")
    bad = {"kind": "send_sms", "to": "+1", "message": "x", "extra": 1}
    assert not Draft202012Validator(schema).is_valid(bad)
    with pytest.raises(ValidationError):
        ACTION.validate_python(bad)


@pytest.mark.parametrize(
    "config",
    [
        {"kind": "assign_owner"},
        {"kind": "assign_owner", "user_id": "u", "round_robin": {"role": "seller"}},
        {"kind": "assign_owner", "round_robin": {"role": "seller", "user_ids": ["a"]}},
        {"kind": "assign_owner", "round_robin": {}},
        {"kind": "update_field", "field": "custom_fields.", "value": 1},
        {"kind": "update_field", "field": "name", "value": [1]},
        {"kind": "create_deal", "title": "t", "pipeline_id": "p", "value": "1.234"},
        {"kind": "create_task", "title": "a\nb"},
        {"kind": "add_tag", "tag": "vip", "on_error": "ignore"},
    ],
)
def test_invalid_action_configs_are_refused(config: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ACTION.validate_python(config)


PATCHES: dict[str, type[BaseModel]] = {
    "lead": LeadPatch,
    "contact": ContactPatch,
    "deal": DealPatch,
}
SAMPLES: list[Any] = [
    None, "", "  ", "x", "a" * 61, "a" * 201, "a" * 501, "ok@example.com", "not-an-email",
    "new", "lost", "converted", "USD", "usd", "BRL", 0, 50, 100, 101, -1, "42", 3.5,
    "2026-01-31", "2026-02-31", "1500.50", "1.234", True,
]  # fmt: skip


@pytest.mark.parametrize("kind", sorted(UPDATABLE_FIELDS))
def test_update_field_accepts_exactly_what_a_patch_of_the_field_accepts(kind: str) -> None:
    patch = PATCHES[kind]
    for name in UPDATABLE_FIELDS[kind]:
        for value in SAMPLES:
            try:
                expected = patch.model_validate({name: value}).model_dump()[name]
                accepted = True
            except ValidationError:
                accepted = False
            try:
                got = field_value(kind, name, value)
                ok = True
            except ActionFailed:
                ok = False
            assert ok == accepted, (kind, name, value)
            if ok:
                assert got == expected, (kind, name, value)


def test_update_field_refuses_a_field_it_does_not_set_naming_it() -> None:
    with pytest.raises(ActionFailed, match="field: a deal has no field 'stage_id'"):
        field_value("deal", "stage_id", "x")


def test_a_value_that_is_one_placeholder_keeps_its_type() -> None:
    data = {"form": {"seats": 12, "name": "Ana"}}
    assert render_value("{{form.seats}}", data) == 12
    assert render_value("{{ form.seats }} seats", data) == "12 seats"
    assert render_value(7, data) == 7
    with pytest.raises(ActionFailed, match="names nothing"):
        render_value("{{form.nope}}", data)


@pytest.mark.parametrize(
    ("raw", "number"),
    [("+55 (11) 98765-4321", "+5511987654321"), ("+14155550100", "+14155550100")],
)
def test_phone_numbers_are_normalised_to_e164(raw: str, number: str) -> None:
    assert render_phone("{{p}}", {"p": raw}) == number


@pytest.mark.parametrize("raw", ["4155550100", "+0123456789", "+1 415", "+1234567890123456", ""])
def test_a_number_that_is_not_e164_is_refused_naming_to(raw: str) -> None:
    with pytest.raises(ActionFailed, match="to: "):
        render_phone("{{p}}", {"p": raw})


def _workflow(on_error: str) -> Workflow:
    return Workflow.model_validate(
        {
            "trigger": {"event": "crm.lead.created"},
            "steps": [
                {"id": "tag", "type": "action",
                 "action": {"kind": "add_tag", "tag": "vip", "on_error": on_error}},
                {"id": "note", "type": "action", "action": {"kind": "create_note", "body": "x"}},
            ],
        }
    )  # fmt: skip


def test_on_error_continue_catches_into_the_next_step_and_fail_into_the_fail_state() -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:step"
    cont = compile_workflow(_workflow("continue"), step_function_arn=arn)["States"]
    fail = compile_workflow(_workflow("fail"), step_function_arn=arn)["States"]
    assert cont["Failed_tag"] == {
        "Type": "Pass",
        "Parameters": {"continued": True, "step_id": "tag", "error.$": "$.error"},
        "ResultPath": "$.steps.tag",
        "Next": "Action_note",
    }
    assert fail["Failed_tag"]["Next"] == "StepFailed"
    # on_error is the state machine's, not part of the step's payload.
    assert "on_error" not in cont["Action_tag"]["Parameters"]["Payload"]["action"]
