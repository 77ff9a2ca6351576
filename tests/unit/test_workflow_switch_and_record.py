"""The multi-way switch, conditions on the current record and the exit condition, compiled."""

from __future__ import annotations

from typing import Any

import pytest
from crm.automation.compiler import compile_workflow, entry_state_name
from crm.automation.model import Workflow
from pydantic import ValidationError

ARN = "arn:aws:lambda:us-east-1:1:function:step"


def hook(step_id: str) -> dict[str, Any]:
    return {"id": step_id, "type": "action", "action": {"kind": "webhook", "url": "https://h.io"}}


def when(field: str, value: Any) -> dict[str, Any]:
    return {"all": [{"field": field, "op": "eq", "value": value}]}


def switch(*cases: dict[str, Any], default: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"id": "route", "type": "switch", "cases": list(cases), "default": default or []}


def flow(*steps: dict[str, Any], **extra: Any) -> Workflow:
    return Workflow.model_validate(
        {"trigger": {"event": "crm.lead.created"}, "steps": list(steps), **extra}
    )


def test_a_switch_is_one_choice_with_a_rule_per_case_and_the_default() -> None:
    workflow = flow(
        switch(
            {"when": when("lead.source", "web"), "steps": [hook("a")]},
            {"when": when("lead.source", "ads"), "steps": []},
            default=[hook("b")],
        ),
        hook("after"),
    )
    states = compile_workflow(workflow, step_function_arn=ARN)["States"]
    choice = states["Switch_route"]
    assert [rule["Next"] for rule in choice["Choices"]] == ["Action_a", "Action_after"]
    assert choice["Default"] == "Action_b"
    assert states["Action_a"]["Next"] == states["Action_b"]["Next"] == "Action_after"


def test_conditions_on_the_record_load_it_first_and_read_it_there() -> None:
    workflow = flow(
        {"id": "c", "type": "condition", "when": when("record.score", 5), "then": [hook("a")]}
    )
    asl = compile_workflow(workflow, step_function_arn=ARN)
    assert asl["StartAt"] == "Load_c" == entry_state_name(workflow.steps[0], workflow)
    load = asl["States"]["Load_c"]
    assert load["Parameters"]["Payload"]["operation"] == "load_record"
    assert load["ResultPath"] == "$.current" and load["Next"] == "Condition_c"
    variables = {
        test["Variable"] for test in asl["States"]["Condition_c"]["Choices"][0]["And"][0]["And"]
    }
    assert variables == {"$.current.record.score"}


def test_the_exit_condition_is_checked_before_each_action() -> None:
    workflow = flow(hook("a"), {"id": "d", "type": "delay", "seconds": 5}, hook("b"),
                    exit_when=when("lead.status", "lost"))  # fmt: skip
    states = compile_workflow(workflow, step_function_arn=ARN)["States"]
    assert states["Delay_d"]["Next"] == "ExitCheck_b"
    assert states["ExitCheck_b"]["Default"] == "Action_b"
    assert states["ExitCheck_b"]["Choices"][0]["Next"] == "Exit_b"
    assert states["Exit_b"]["Parameters"]["Payload"]["operation"] == "exit"
    assert states["Exit_b"]["Next"] == "Exited" and states["Exited"] == {"Type": "Succeed"}
    # the action's own Task parameters are what they always were
    assert "operation" not in states["Action_b"]["Parameters"]["Payload"]


def test_switch_limits_and_delays_count_on_its_longest_branch() -> None:
    too_many = [{"when": when("a", i), "steps": []} for i in range(21)]
    with pytest.raises(ValidationError):
        flow(switch(*too_many))
    long = {"id": "w", "type": "delay", "seconds": 365 * 24 * 3600}
    with pytest.raises(ValidationError, match="add up"):
        flow(
            switch({"when": when("a", 1), "steps": [long]}),
            {"id": "x", "type": "delay", "seconds": 1},
        )
