"""Placeholders, recipients and subjects of send_email, action config checks at run time, event
subjects, the automation as an actor, and the save-time rules of the action models."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from crm.automation.compiler import compile_workflow
from crm.automation.model import AddTagAction, MoveStageAction, SendEmailAction, Workflow
from crm.domain.automation_actions import (
    ActionFailed,
    AutomationPrincipal,
    event_subject,
    parse_action,
    parse_id,
    render,
    render_recipient,
    render_subject,
)
from crm.domain.records import Change, RecordKind
from pydantic import ValidationError

DATA = {
    "lead": {
        "name": "Ana Lima",
        "email": "ana@example.com",
        "company": None,
        "tags": ["vip"],
        "score": 7,
    }
}


def test_placeholders_take_values_from_the_event_data() -> None:
    assert render("Hi {{lead.name}} ({{ lead.email }})", DATA) == "Hi Ana Lima (ana@example.com)"


def test_null_renders_empty_and_other_values_as_json() -> None:
    assert render("[{{lead.company}}]", DATA) == "[]"
    assert render("{{lead.tags}} {{lead.score}}", DATA) == '["vip"] 7'


def test_text_without_placeholders_and_malformed_braces_stay_as_they_are() -> None:
    assert (
        render("no {placeholders} {{ }} {{1x}} here", DATA) == "no {placeholders} {{ }} {{1x}} here"
    )


@pytest.mark.parametrize("template", ["{{lead.nmae}}", "{{deal.title}}", "{{lead.name.first}}"])
def test_a_placeholder_the_data_lacks_fails_the_action(template: str) -> None:
    with pytest.raises(ActionFailed, match="names nothing in the event data"):
        render(template, DATA)


def test_rendered_values_are_not_evaluated_again() -> None:
    data = {"lead": {"name": "{{lead.secret}}", "secret": "s3cr3t"}}
    assert render("{{lead.name}}", data) == "{{lead.secret}}"


def test_a_subject_with_a_line_break_from_the_data_is_refused() -> None:
    data = {"lead": {"name": "Ana\r\nBcc: all@example.com"}}
    with pytest.raises(ActionFailed, match="line break"):
        render_subject("Welcome {{lead.name}}", data)
    assert render_subject("Welcome {{lead.name}}", DATA) == "Welcome Ana Lima"


def test_an_empty_subject_is_refused() -> None:
    with pytest.raises(ActionFailed, match="empty"):
        render_subject("{{lead.company}}", DATA)


@pytest.mark.parametrize(
    "value",
    [None, "", "not an address", "a@example.com, b@example.com", "Ana <a@example.com>",
     "a@example.com\nBcc: b@example.com", "a@b"],
)  # fmt: skip
def test_the_recipient_must_render_to_one_plain_address(value: str | None) -> None:
    with pytest.raises(ActionFailed, match="is not one email address"):
        render_recipient("{{lead.email}}", {"lead": {"email": value}})
    assert render_recipient(" {{lead.email}} ", DATA) == "ana@example.com"


def test_action_configs_are_validated_by_the_model_at_run_time() -> None:
    assert parse_action({"kind": "add_tag", "tag": "vip"}) == AddTagAction(
        kind="add_tag", tag="vip"
    )
    with pytest.raises(ActionFailed, match=r"invalid action config: add_tag\.tag"):
        parse_action({"kind": "add_tag", "tag": ""})
    with pytest.raises(ActionFailed, match="invalid action config"):
        parse_action({"kind": "launch_rocket"})
    with pytest.raises(ActionFailed, match=r"send_email\.subject"):
        parse_action({"kind": "send_email", "to": "a@example.com", "subject": "a\nb", "body": "x"})


def test_ids_in_a_config_must_be_ids() -> None:
    assert parse_id(str(uuid.UUID(int=1)), "stage_id") == uuid.UUID(int=1)
    with pytest.raises(ActionFailed, match="stage_id 'won' is not an id"):
        parse_id("won", "stage_id")


def test_event_subjects_name_a_lead_contact_or_deal() -> None:
    record_id = uuid.uuid4()
    assert event_subject(f"leads/{record_id}") == ("lead", record_id)
    assert event_subject(f"contacts/{record_id}") == ("contact", record_id)
    assert event_subject(f"deals/{record_id}") == ("deal", record_id)
    for other in ("", "leads/", "leads/x", f"pipelines/{record_id}", str(record_id)):
        assert event_subject(other) is None


def test_the_automation_is_the_actor_of_its_changes() -> None:
    tenant_id, automation_id = uuid.uuid4(), uuid.uuid4()
    principal = AutomationPrincipal.of(tenant_id, automation_id)
    assert (principal.actor_type, principal.actor_id) == ("automation", automation_id)
    assert principal.tenant_id == tenant_id and principal.role == "admin"
    change = Change.by(principal, RecordKind.LEAD, uuid.uuid4(), datetime.now(UTC))
    change.record("tagged", "tags", [], ["vip"])
    assert (change.entries[0].actor_type, change.entries[0].actor_id) == (
        "automation",
        automation_id,
    )


def test_models_refuse_line_breaks_in_mail_headers_on_save() -> None:
    with pytest.raises(ValidationError) as caught:
        SendEmailAction(kind="send_email", to="{{lead.email}}\r\n", subject="Hi", body="b")
    assert caught.value.errors()[0]["type"] == "line_break"
    with pytest.raises(ValidationError):
        SendEmailAction(kind="send_email", to="a@example.com", subject="Hi\nthere", body="b")
    # A body is not a header: line breaks are its business.
    SendEmailAction(kind="send_email", to="a@example.com", subject="Hi", body="a\nb")


def test_move_stage_takes_an_optional_lost_reason_left_out_of_the_compiled_state() -> None:
    plain = {"kind": "move_stage", "pipeline_id": "p", "stage_id": "s"}
    with_reason = {**plain, "lost_reason": "no budget"}
    assert MoveStageAction.model_validate(with_reason).lost_reason == "no budget"
    with pytest.raises(ValidationError):
        MoveStageAction.model_validate({**plain, "lost_reason": ""})

    def task_action(action: dict[str, object]) -> object:
        workflow = Workflow.model_validate(
            {"trigger": {"event": "crm.deal.created"},
             "steps": [{"id": "m", "type": "action", "action": action}]}
        )  # fmt: skip
        asl = compile_workflow(workflow, step_function_arn="arn:aws:lambda:x:1:function:s")
        return asl["States"]["Action_m"]["Parameters"]["Payload"]["action"]

    assert task_action(plain) == plain
    assert task_action(with_reason) == with_reason
