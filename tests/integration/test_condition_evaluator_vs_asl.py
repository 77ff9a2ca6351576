"""The simulation's condition evaluator agrees with the compiled Choice states: every case of
tests/condition_cases.py runs through moto's Step Functions interpreter (the branch taken is
the action the execution invoked) and through crm.automation.evaluator."""

from __future__ import annotations

from typing import Any

import pytest
from crm.automation import Workflow
from crm.automation.evaluator import evaluate

from tests.condition_cases import CASES
from tests.integration.test_compiled_asl_on_moto import StepFunctions, step_functions

pytestmark = pytest.mark.integration

__all__ = ["step_functions"]  # the fixture, imported for pytest

# moto evaluates StringMatches with fnmatch, which has no `\\*` escape and treats `?` and `[`
# as wildcards; Step Functions has only `*` (escapable with a backslash). The compiler and the
# evaluator follow Step Functions, so `contains` values with those characters are compared in
# the unit test only (tests/unit/test_condition_evaluator.py pins their outcome).
FNMATCH_SPECIAL = frozenset("*?[\\")


def _moto_comparable(when: Any) -> bool:
    if isinstance(when, dict):
        if when.get("op") == "contains" and FNMATCH_SPECIAL & set(when["value"]):
            return False
        return all(_moto_comparable(member) for member in when.get("all", when.get("any", [])))
    return True


COMPARED = [case for case in CASES if _moto_comparable(case[1])]


def _workflow(when: dict[str, Any]) -> Workflow:
    return Workflow.model_validate(
        {
            "trigger": {"event": "crm.lead.created"},
            "steps": [
                {
                    "id": "check",
                    "type": "condition",
                    "when": when,
                    "then": [
                        {"id": "yes", "type": "action", "action": {"kind": "add_tag", "tag": "y"}}
                    ],
                    "else": [
                        {"id": "no", "type": "action", "action": {"kind": "add_tag", "tag": "n"}}
                    ],
                }
            ],
        }
    )


def test_the_evaluator_and_the_compiled_choice_take_the_same_branch_for_every_case(
    step_functions: StepFunctions,
) -> None:
    disagreements = []
    for index, (name, when, data, expected) in enumerate(COMPARED):
        workflow = _workflow(when)
        machine = step_functions.create(workflow, f"case-{index}")
        before = len(step_functions.lambda_.payloads)

        execution = step_functions.run(machine, f"run-{index}", data)

        assert execution["status"] == "SUCCEEDED", (name, execution)
        invoked = step_functions.lambda_.invoked_steps[before:]
        on_asl = invoked == ["yes"]
        assert invoked in (["yes"], ["no"]), (name, invoked)
        condition = workflow.steps[0]
        on_evaluator = evaluate(condition.when, data).result  # type: ignore[union-attr]
        if not on_asl == on_evaluator == expected:
            disagreements.append((name, {"asl": on_asl, "evaluator": on_evaluator}))
    assert disagreements == []


def test_only_the_fnmatch_special_cases_are_left_out() -> None:
    assert {case[0] for case in CASES} - {case[0] for case in COMPARED} == {
        "contains_star",
        "contains_star_literal",
    }
