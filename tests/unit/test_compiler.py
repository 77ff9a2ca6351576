"""The workflow compiler against golden files, plus its naming functions.

Golden files live in `statemachines/golden/`: `<case>.workflow.json` is the input,
`<case>.asl.json` the expected definition (json.dumps(indent=2, sort_keys=True) plus a newline).
After an intended change of the compiler output, rewrite the expected files with

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/test_compiler.py

and review the diff before committing it. A new case needs only its `.workflow.json`.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from crm.automation import (
    DEFAULT_RETRY,
    RetryPolicy,
    Workflow,
    compile_workflow,
    execution_name,
    state_machine_name,
)
from crm.automation.compiler import LAMBDA_INVOKE_RESOURCE, MAX_VERSION

GOLDEN_DIR = Path(__file__).resolve().parents[2] / "statemachines" / "golden"
STEP_FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:automation_step"
REQUIRED_CASES = {
    "webhook_only",
    "condition_then_else",
    "delay_then_action",
    "nested_groups",
    "all_action_kinds",
}
CASES = sorted(
    path.name.removesuffix(".workflow.json") for path in GOLDEN_DIR.glob("*.workflow.json")
)
NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,80}")


def load_workflow(case: str) -> Workflow:
    return Workflow.model_validate_json((GOLDEN_DIR / f"{case}.workflow.json").read_text())


def render(definition: dict[str, Any]) -> str:
    return json.dumps(definition, indent=2, sort_keys=True) + "\n"


def compile_case(case: str, **options: Any) -> dict[str, Any]:
    return compile_workflow(load_workflow(case), step_function_arn=STEP_FUNCTION_ARN, **options)


def test_the_required_golden_cases_exist() -> None:
    assert set(CASES) >= REQUIRED_CASES


@pytest.mark.parametrize("case", CASES)
def test_compiles_to_the_golden_definition(case: str) -> None:
    actual = render(compile_case(case))
    expected_path = GOLDEN_DIR / f"{case}.asl.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        expected_path.write_text(actual)
    assert expected_path.exists(), f"no golden file; run with UPDATE_GOLDEN=1 to create {case}"
    assert actual == expected_path.read_text()


def _transitions(state: dict[str, Any]) -> list[str]:
    targets = [state[key] for key in ("Next", "Default") if key in state]
    targets += [choice["Next"] for choice in state.get("Choices", [])]
    targets += [catcher["Next"] for catcher in state.get("Catch", [])]
    return targets


@pytest.mark.parametrize("case", CASES)
def test_every_state_is_reachable_and_every_transition_lands(case: str) -> None:
    definition = compile_case(case)
    states = definition["States"]
    seen: set[str] = set()
    pending = [definition["StartAt"]]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        assert name in states, f"transition to missing state {name}"
        pending.extend(_transitions(states[name]))
    assert seen == set(states)


@pytest.mark.parametrize("case", CASES)
def test_compiling_is_deterministic(case: str) -> None:
    first = json.dumps(compile_case(case), sort_keys=True)
    again = json.dumps(compile_case(case), sort_keys=True)
    # A workflow read back from its own dump compiles to the same bytes as well.
    round_tripped = Workflow.model_validate(json.loads(load_workflow(case).model_dump_json()))
    from_dump = compile_workflow(round_tripped, step_function_arn=STEP_FUNCTION_ARN)
    assert first == again == json.dumps(from_dump, sort_keys=True)


def test_state_names_come_from_step_ids_and_end_in_done() -> None:
    definition = compile_case("condition_then_else")

    assert definition["StartAt"] == "Condition_is_web"
    assert set(definition["States"]) == {
        "Condition_is_web",
        "Action_tag_hot",
        "Failed_tag_hot",
        "Action_tag_cold",
        "Failed_tag_cold",
        "Action_notify",
        "Failed_notify",
        "Done",
        "StepFailed",
    }
    assert definition["States"]["Done"] == {"Type": "Succeed"}


def test_both_branches_of_a_condition_continue_with_the_next_step() -> None:
    states = compile_case("condition_then_else")["States"]

    assert states["Condition_is_web"]["Choices"][0]["Next"] == "Action_tag_hot"
    assert states["Condition_is_web"]["Default"] == "Action_tag_cold"
    assert states["Action_tag_hot"]["Next"] == "Action_notify"
    assert states["Action_tag_cold"]["Next"] == "Action_notify"
    assert states["Action_notify"]["Next"] == "Done"


def test_empty_branches_go_straight_to_what_follows() -> None:
    states = compile_case("branches_nested_and_empty")["States"]

    assert states["Condition_is_vip"]["Default"] == "Action_tag_seen"
    assert states["Condition_noop_check"]["Default"] == "Action_tag_seen"
    assert states["Condition_noop_check"]["Choices"][0]["Next"] == "Action_tag_seen"
    assert states["Delay_wait_5m"] == {"Type": "Wait", "Seconds": 300, "Next": "Action_tag_vip"}


def test_an_action_is_a_lambda_invoke_task_with_retry_and_catch() -> None:
    states = compile_case("webhook_only")["States"]
    task = states["Action_notify"]

    assert task["Resource"] == LAMBDA_INVOKE_RESOURCE
    assert task["Parameters"]["FunctionName"] == STEP_FUNCTION_ARN
    assert task["Parameters"]["Payload"]["step_id"] == "notify"
    assert task["Parameters"]["Payload"]["action"] == {
        "kind": "webhook",
        "url": "https://hooks.example.com/crm/deal-won",
        "headers": {"X-Source": "crm", "X-Scope": "deals"},
    }
    assert task["ResultPath"] == "$.steps.notify"
    assert task["Retry"][0]["IntervalSeconds"] == DEFAULT_RETRY.interval_seconds == 2
    assert task["Retry"][0]["MaxAttempts"] == 3
    assert task["Retry"][0]["BackoffRate"] == 2
    assert task["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed_notify"}
    ]
    assert states["Failed_notify"]["Next"] == "StepFailed"
    assert states["StepFailed"]["Type"] == "Fail"


def test_the_retry_policy_is_an_option_that_changes_only_the_retry() -> None:
    fast = RetryPolicy(interval_seconds=1, max_attempts=1, backoff_rate=1.0)

    default_states = compile_case("all_action_kinds")["States"]
    fast_states = compile_case("all_action_kinds", retry=fast)["States"]

    for name, state in fast_states.items():
        if state["Type"] == "Task":
            assert state["Retry"][0]["IntervalSeconds"] == 1
            assert state["Retry"][0]["MaxAttempts"] == 1
            assert state["Retry"][0]["BackoffRate"] == 1.0
            state = {key: value for key, value in state.items() if key != "Retry"}
            default = {k: v for k, v in default_states[name].items() if k != "Retry"}
            assert state == default
        else:
            assert state == default_states[name]


@pytest.mark.parametrize(
    "policy",
    [
        {"interval_seconds": 0},
        {"max_attempts": -1},
        {"backoff_rate": 0.5},
    ],
)
def test_a_retry_policy_outside_asl_bounds_is_refused(policy: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="invalid retry policy"):
        RetryPolicy(**policy)


def test_a_step_function_arn_is_required() -> None:
    with pytest.raises(ValueError, match="step_function_arn"):
        compile_workflow(load_workflow("webhook_only"), step_function_arn="")


def _single_condition(field: str, op: str, value: Any) -> Workflow:
    return Workflow.model_validate(
        {
            "trigger": {"event": "crm.lead.created"},
            "steps": [
                {
                    "id": "check",
                    "type": "condition",
                    "when": {"all": [{"field": field, "op": op, "value": value}]},
                }
            ],
        }
    )


def _only_rule(workflow: Workflow) -> dict[str, Any]:
    states = compile_workflow(workflow, step_function_arn=STEP_FUNCTION_ARN)["States"]
    group = states["Condition_check"]["Choices"][0]["And"]
    assert len(group) == 1
    rule: dict[str, Any] = group[0]
    return rule


@pytest.mark.parametrize(
    ("op", "value", "type_test", "operator"),
    [
        ("eq", "web", "IsString", "StringEquals"),
        ("gt", "m", "IsString", "StringGreaterThan"),
        ("eq", 3, "IsNumeric", "NumericEquals"),
        ("gte", 2.5, "IsNumeric", "NumericGreaterThanEquals"),
        ("lt", 10, "IsNumeric", "NumericLessThan"),
        ("lte", 10, "IsNumeric", "NumericLessThanEquals"),
        ("eq", False, "IsBoolean", "BooleanEquals"),
    ],
)
def test_the_comparison_operator_follows_the_json_type_of_the_value(
    op: str, value: Any, type_test: str, operator: str
) -> None:
    variable = "$.event.data.lead.x"

    rule = _only_rule(_single_condition("lead.x", op, value))

    assert rule == {
        "And": [
            {"Variable": variable, "IsPresent": True},
            {"Variable": variable, type_test: True},
            {"Variable": variable, operator: value},
        ]
    }


def test_eq_null_is_a_null_test_and_ne_negates_eq() -> None:
    variable = "$.event.data.owner_id"
    null_test = {
        "And": [
            {"Variable": variable, "IsPresent": True},
            {"Variable": variable, "IsNull": True},
        ]
    }

    assert _only_rule(_single_condition("owner_id", "eq", None)) == null_test
    assert _only_rule(_single_condition("owner_id", "ne", None)) == {"Not": null_test}


def test_contains_escapes_the_wildcard_and_the_escape_character() -> None:
    rule = _only_rule(_single_condition("name", "contains", "a*b\\c"))

    assert rule["And"][-1] == {"Variable": "$.event.data.name", "StringMatches": "*a\\*b\\\\c*"}


def test_exists_is_a_presence_test() -> None:
    workflow = Workflow.model_validate(
        {
            "trigger": {"event": "crm.lead.created"},
            "steps": [
                {
                    "id": "check",
                    "type": "condition",
                    "when": {"any": [{"field": "lead.email", "op": "exists"}]},
                }
            ],
        }
    )
    choice = compile_workflow(workflow, step_function_arn=STEP_FUNCTION_ARN)["States"][
        "Condition_check"
    ]["Choices"][0]

    assert choice == {
        "Or": [{"Variable": "$.event.data.lead.email", "IsPresent": True}],
        "Next": "Done",
    }


# --- names ------------------------------------------------------------------------------------

VERSION_ID = "0b7c7f0e-3f6a-4b8e-9d43-1f0c2a9e5d11"
EVENT_ID = "5f0f1c2e-8a7b-4c1d-9e2f-3a4b5c6d7e8f"


def test_execution_name_is_version_and_event_when_that_is_a_valid_name() -> None:
    assert execution_name(VERSION_ID, EVENT_ID) == f"{VERSION_ID}-{EVENT_ID}"


@pytest.mark.parametrize(
    ("version_id", "event_id"),
    [
        (VERSION_ID, "evt:1"),
        (VERSION_ID, "x" * 60),
        ("v 1", EVENT_ID),
    ],
)
def test_execution_name_falls_back_to_a_digest(version_id: str, event_id: str) -> None:
    name = execution_name(version_id, event_id)

    assert NAME_RE.fullmatch(name)
    assert name.startswith("run-")
    assert name == execution_name(version_id, event_id)


def test_execution_names_differ_when_either_part_differs() -> None:
    names = {
        execution_name("v1", "evt:1"),
        execution_name("v2", "evt:1"),
        execution_name("v1", "evt:2"),
        execution_name("v1-evt", ":1"),
    }
    assert len(names) == 4


@pytest.mark.parametrize(("version_id", "event_id"), [("", EVENT_ID), (VERSION_ID, "")])
def test_execution_name_needs_both_parts(version_id: str, event_id: str) -> None:
    with pytest.raises(ValueError):
        execution_name(version_id, event_id)


def test_state_machine_name_is_readable_for_short_ids() -> None:
    assert state_machine_name("t1", "auto_7", 3) == "crm-t1-auto_7-v3"
    assert state_machine_name("t1", "auto_7", 3, prefix="crm-dev") == "crm-dev-t1-auto_7-v3"


def test_state_machine_name_digests_long_ids_and_keeps_one_stem_per_automation() -> None:
    first = state_machine_name(VERSION_ID, EVENT_ID, 1)
    last = state_machine_name(VERSION_ID, EVENT_ID, MAX_VERSION, prefix="p" * 24)

    assert NAME_RE.fullmatch(first)
    assert NAME_RE.fullmatch(last)
    assert first.removesuffix("-v1") == state_machine_name(VERSION_ID, EVENT_ID, 2).removesuffix(
        "-v2"
    )
    assert state_machine_name("other-tenant", EVENT_ID, 1) != state_machine_name(
        VERSION_ID, EVENT_ID, 1
    )


@pytest.mark.parametrize(
    ("tenant_id", "automation_id", "version", "prefix"),
    [
        ("", "a", 1, "crm"),
        ("t", "", 1, "crm"),
        ("t", "a", 0, "crm"),
        ("t", "a", MAX_VERSION + 1, "crm"),
        ("t", "a", True, "crm"),
        ("t", "a", 1, "crm prod"),
        ("t", "a", 1, ""),
    ],
)
def test_state_machine_name_refuses_bad_parts(
    tenant_id: str, automation_id: str, version: int, prefix: str
) -> None:
    with pytest.raises(ValueError):
        state_machine_name(tenant_id, automation_id, version, prefix=prefix)
