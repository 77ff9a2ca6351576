"""Workflow validation: every rule has a failing case whose error location is asserted.

Locations are pydantic's: discriminated unions add their tag, so an action's url sits at
`("steps", 0, "action", "action", "webhook", "url")`.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from crm.automation.model import MAX_DELAY_SECONDS, ActionStep, ConditionStep, Workflow
from pydantic import ValidationError

Loc = tuple[str | int, ...]


def action(step_id: str, **action_fields: Any) -> dict[str, Any]:
    fields = action_fields or {"kind": "add_tag", "tag": "hot"}
    return {"id": step_id, "type": "action", "action": fields}


def condition(step_id: str, when: dict[str, Any], **branches: Any) -> dict[str, Any]:
    return {"id": step_id, "type": "condition", "when": when, **branches}


def delay(step_id: str, seconds: Any) -> dict[str, Any]:
    return {"id": step_id, "type": "delay", "seconds": seconds}


def workflow(*steps: dict[str, Any], event: str = "crm.lead.created") -> dict[str, Any]:
    return {"trigger": {"event": event}, "steps": list(steps)}


def when_all(*members: dict[str, Any]) -> dict[str, Any]:
    return {"all": list(members)}


def errors_of(data: Any) -> list[tuple[str, Loc]]:
    with pytest.raises(ValidationError) as caught:
        Workflow.model_validate(data)
    return [(error["type"], error["loc"]) for error in caught.value.errors()]


def assert_only_error(data: Any, error_type: str, loc: Loc) -> None:
    assert errors_of(data) == [(error_type, loc)]


VALID = workflow(
    condition(
        "is_web",
        {
            "all": [
                {"field": "lead.source", "op": "eq", "value": "web"},
                {"any": [{"field": "lead.score", "op": "gt", "value": 10}]},
            ]
        },
        then=[delay("wait_1h", 3600), action("tag_it")],
        **{"else": [action("notify", kind="webhook", url="https://example.com/h")]},
    ),
    action(
        "mail",
        kind="send_email",
        to="{{lead.email}}",
        subject="Hi",
        body="Hello {{lead.name}}",
    ),
    action("move", kind="move_stage", pipeline_id="p1", stage_id="s2"),
)

COND = ("steps", 0, "condition")
FIRST_MEMBER = (*COND, "when", "all", "all", 0, "condition")


# --- the valid shape --------------------------------------------------------------------------


def test_the_documented_shape_validates_and_dumps_back_to_itself() -> None:
    model = Workflow.model_validate(VALID)
    dumped = model.model_dump(mode="json")

    assert dumped["steps"][0]["else"][0]["action"]["headers"] == {}
    expected = copy.deepcopy(VALID)
    expected["steps"][0]["else"][0]["action"]["headers"] = {}
    expected["steps"][0]["else"][0]["action"]["response_mapping"] = None  # optional, as well
    expected["steps"][-1]["action"]["lost_reason"] = None  # optional, dumped as its default
    expected["max_chain_depth"] = None
    for step in Workflow.model_validate(expected).iter_steps():
        if step.type == "action":
            _action_of(expected, step.id)["on_error"] = "fail"  # the default, dumped
    # the trigger's kind, the re-enrolment policy and the exit condition have defaults too
    expected["trigger"] = {"kind": "event", **expected["trigger"]}
    expected.update(reenrolment="every_event", exit_when=None)
    assert dumped == expected
    assert Workflow.model_validate(dumped) == model


def _action_of(workflow: dict[str, Any], step_id: str) -> dict[str, Any]:
    def walk(steps: list[dict[str, Any]]) -> dict[str, Any] | None:
        for step in steps:
            if step["id"] == step_id:
                action: dict[str, Any] = step["action"]
                return action
            found = walk(step.get("then", [])) or walk(step.get("else", []))
            if found is not None:
                return found
        return None

    action = walk(workflow["steps"])
    assert action is not None
    return action


def test_the_model_is_immutable() -> None:
    model = Workflow.model_validate(VALID)

    with pytest.raises(ValidationError):
        model.steps = ()


def test_iter_steps_walks_the_whole_tree_in_document_order() -> None:
    ids = [step.id for step in Workflow.model_validate(VALID).iter_steps()]

    assert ids == ["is_web", "wait_1h", "tag_it", "notify", "mail", "move"]


def test_steps_are_typed_by_their_discriminator() -> None:
    model = Workflow.model_validate(VALID)

    assert isinstance(model.steps[0], ConditionStep)
    assert isinstance(model.steps[1], ActionStep)


# --- workflow and trigger ---------------------------------------------------------------------


def test_unknown_fields_are_refused() -> None:
    assert_only_error({**VALID, "owner": "me"}, "extra_forbidden", ("owner",))


@pytest.mark.parametrize(
    "event", ["lead.created", "crm.lead", "crm.Lead.created", "crm.lead.created.x", "crm.lead-x.y"]
)
def test_the_trigger_event_must_be_a_crm_event_type(event: str) -> None:
    assert_only_error(
        workflow(action("a"), event=event), "string_pattern_mismatch", ("trigger", "event", "event")
    )


def test_a_workflow_needs_at_least_one_step() -> None:
    assert_only_error(workflow(), "too_short", ("steps",))


def test_at_most_100_steps_counting_nested_ones() -> None:
    nested = condition(
        "c", when_all({"field": "a", "op": "exists"}), then=[action(f"t{i}") for i in range(60)]
    )
    data = workflow(nested, *[action(f"s{i}") for i in range(40)])

    assert_only_error(data, "too_many_steps", ("steps",))
    assert Workflow.model_validate(workflow(nested, *[action(f"s{i}") for i in range(39)]))


# --- steps ------------------------------------------------------------------------------------


@pytest.mark.parametrize("step_id", ["", "Upper", "1st", "with-dash", "x" * 41, "é"])
def test_step_ids_are_short_lowercase_identifiers(step_id: str) -> None:
    assert_only_error(
        workflow(action(step_id)), "string_pattern_mismatch", ("steps", 0, "action", "id")
    )


def test_step_ids_are_unique_across_the_whole_tree() -> None:
    data = workflow(
        action("dup"),
        condition("c", when_all({"field": "a", "op": "exists"}), **{"else": [action("dup")]}),
    )

    assert_only_error(
        data, "duplicate_step_id", ("steps", 1, "condition", "else", 0, "action", "id")
    )


def test_an_unknown_step_type_is_refused() -> None:
    assert_only_error(workflow({"id": "x", "type": "loop"}), "union_tag_invalid", ("steps", 0))


def test_a_step_field_of_another_type_is_refused() -> None:
    assert_only_error(
        workflow({**delay("d", 5), "action": {"kind": "add_tag", "tag": "x"}}),
        "extra_forbidden",
        ("steps", 0, "delay", "action"),
    )


# --- delays -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "error_type"),
    [
        (0, "greater_than_equal"),
        (MAX_DELAY_SECONDS + 1, "less_than_equal"),
        ("60", "int_type"),
        (True, "int_type"),
        (1.5, "int_type"),
    ],
)
def test_a_delay_is_a_whole_number_of_seconds_up_to_a_year(seconds: Any, error_type: str) -> None:
    assert_only_error(workflow(delay("d", seconds)), error_type, ("steps", 0, "delay", "seconds"))


def test_delays_along_one_path_add_up_to_at_most_a_year() -> None:
    half = MAX_DELAY_SECONDS // 2 + 1
    long_branch = condition("c", when_all({"field": "a", "op": "exists"}), then=[delay("d1", half)])

    assert_only_error(workflow(long_branch, delay("d2", half)), "total_delay_too_long", ("steps",))
    # The two branches are alternatives, so only the longer one counts.
    parallel = condition(
        "c",
        when_all({"field": "a", "op": "exists"}),
        then=[delay("d1", half)],
        **{"else": [delay("d2", half)]},
    )
    assert Workflow.model_validate(workflow(parallel))


# --- conditions -------------------------------------------------------------------------------


def test_an_unknown_condition_op_is_refused() -> None:
    data = workflow(condition("c", when_all({"field": "a", "op": "like", "value": "x"})))

    assert_only_error(data, "union_tag_invalid", FIRST_MEMBER)


def test_exists_takes_no_value() -> None:
    data = workflow(condition("c", when_all({"field": "a", "op": "exists", "value": 1})))

    assert_only_error(data, "extra_forbidden", (*FIRST_MEMBER, "exists", "value"))


def test_a_comparison_needs_a_value() -> None:
    data = workflow(condition("c", when_all({"field": "a", "op": "eq"})))

    assert_only_error(data, "missing", (*FIRST_MEMBER, "eq", "value"))


@pytest.mark.parametrize("value", [1, None, True])
def test_contains_needs_a_string(value: Any) -> None:
    data = workflow(condition("c", when_all({"field": "a", "op": "contains", "value": value})))

    assert_only_error(data, "contains_needs_string", (*FIRST_MEMBER, "contains", "value"))


@pytest.mark.parametrize("op", ["gt", "gte", "lt", "lte"])
@pytest.mark.parametrize("value", [None, False])
def test_ordering_needs_a_number_or_a_string(op: str, value: Any) -> None:
    data = workflow(condition("c", when_all({"field": "a", "op": op, "value": value})))

    assert_only_error(data, "ordering_needs_number_or_string", (*FIRST_MEMBER, op, "value"))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), [1], {"a": 1}, "x" * 1025])
def test_a_value_is_a_short_json_scalar(value: Any) -> None:
    data = workflow(condition("c", when_all({"field": "a", "op": "eq", "value": value})))

    locs = {loc[: len(FIRST_MEMBER) + 2] for _, loc in errors_of(data)}
    assert locs == {(*FIRST_MEMBER, "eq", "value")}


@pytest.mark.parametrize(
    "field", ["", ".a", "a.", "a..b", "$.a", "a b", "a[0]", "a-b", "1a", ".".join("a" * 11)]
)
def test_a_field_is_a_dotted_path_of_identifiers(field: str) -> None:
    data = workflow(condition("c", when_all({"field": field, "op": "exists"})))

    assert_only_error(data, "string_pattern_mismatch", (*FIRST_MEMBER, "exists", "field"))


def test_when_is_an_all_or_any_group() -> None:
    data = workflow(condition("c", {"field": "a", "op": "exists"}))

    assert_only_error(data, "invalid_when", (*COND, "when"))


def test_a_group_is_not_empty() -> None:
    assert_only_error(
        workflow(condition("c", {"any": []})), "too_short", (*COND, "when", "any", "any")
    )


def test_a_nested_group_is_not_empty() -> None:
    data = workflow(condition("c", when_all({"all": []})))

    assert_only_error(data, "too_short", (*COND, "when", "all", "all", 0, "all", "all"))


def test_groups_nest_up_to_five_levels_deep() -> None:
    member: dict[str, Any] = {"field": "a", "op": "exists"}
    for _ in range(4):
        member = {"any": [member]}
    assert Workflow.model_validate(workflow(condition("c", when_all(member))))

    data = workflow(condition("c", when_all({"all": [member]})))
    deepest = (*COND, "when", "all", "all", 0, "all", "all", 0)
    for _ in range(4):
        deepest = (*deepest, "any", "any", 0)
    errors = errors_of(data)
    assert [error_type for error_type, _ in errors] == ["group_too_deep"]
    assert errors[0][1] == deepest[:-2]  # the group one level too deep


def test_a_group_holds_only_its_one_key() -> None:
    data = workflow(
        condition(
            "c", {"all": [{"field": "a", "op": "exists"}], "any": [{"field": "b", "op": "exists"}]}
        )
    )

    assert_only_error(data, "extra_forbidden", (*COND, "when", "all", "any"))


# --- actions ----------------------------------------------------------------------------------

ACTION = ("steps", 0, "action", "action")


def test_an_unknown_action_kind_is_refused() -> None:
    assert_only_error(workflow(action("a", kind="sms", to="1")), "union_tag_invalid", ACTION)


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/x", "example.com/x", "https://", "javascript:alert(1)", "https://a b.com"],
)
def test_a_webhook_url_is_http_or_https_with_a_host(url: str) -> None:
    assert_only_error(
        workflow(action("a", kind="webhook", url=url)), "url_target", (*ACTION, "webhook", "url")
    )


@pytest.mark.parametrize("name", ["X.$", "X Y", "", "a" * 65])
def test_webhook_header_names_are_plain_tokens(name: str) -> None:
    data = workflow(action("a", kind="webhook", url="https://example.com", headers={name: "v"}))

    assert_only_error(
        data, "string_pattern_mismatch", (*ACTION, "webhook", "headers", name, "[key]")
    )


def test_an_email_needs_a_subject() -> None:
    data = workflow(action("a", kind="send_email", to="x@example.com", body="b"))

    assert_only_error(data, "missing", (*ACTION, "send_email", "subject"))


def test_an_email_body_is_not_empty() -> None:
    data = workflow(action("a", kind="send_email", to="x@example.com", subject="s", body=""))

    assert_only_error(data, "string_too_short", (*ACTION, "send_email", "body"))


def test_a_tag_is_not_empty() -> None:
    assert_only_error(
        workflow(action("a", kind="add_tag", tag="")),
        "string_too_short",
        (*ACTION, "add_tag", "tag"),
    )


def test_move_stage_needs_a_stage() -> None:
    assert_only_error(
        workflow(action("a", kind="move_stage", pipeline_id="p")),
        "missing",
        (*ACTION, "move_stage", "stage_id"),
    )
