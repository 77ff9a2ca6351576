"""crm.automation.evaluator: the compiler's condition semantics in Python (the same table
runs through the compiled Choice states on moto in
tests/integration/test_condition_evaluator_vs_asl.py)."""

from __future__ import annotations

from typing import Any

import pytest
from crm.automation.evaluator import MISSING, evaluate, lookup
from crm.automation.model import Workflow

from tests.condition_cases import CASES


def _when(when: dict[str, Any]) -> Any:
    workflow = Workflow.model_validate(
        {
            "trigger": {"event": "crm.lead.created"},
            "steps": [{"id": "check", "type": "condition", "when": when}],
        }
    )
    return workflow.steps[0].when  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("when", "data", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_case_evaluates_as_expected(
    when: dict[str, Any], data: dict[str, Any], expected: bool
) -> None:
    assert evaluate(_when(when), data).result is expected


def test_every_clause_is_shown_with_its_field_value_even_after_the_result_is_known() -> None:
    when = _when(
        {
            "any": [
                {"field": "lead.score", "op": "gt", "value": 50},
                {"field": "lead.source", "op": "eq", "value": "web"},
                {"field": "lead.phone", "op": "exists"},
            ]
        }
    )

    outcome = evaluate(when, {"lead": {"score": 72, "source": "ads"}})

    assert outcome.result is True
    assert [clause.to_dict() for clause in outcome.clauses] == [
        {
            "field": "lead.score",
            "op": "gt",
            "value": 50,
            "present": True,
            "actual": 72,
            "result": True,
        },
        {
            "field": "lead.source",
            "op": "eq",
            "value": "web",
            "present": True,
            "actual": "ads",
            "result": False,
        },
        {"field": "lead.phone", "op": "exists", "present": False, "actual": None, "result": False},
    ]


def test_lookup_tells_missing_from_null() -> None:
    assert lookup({"a": {"b": None}}, "a.b") is None
    assert lookup({"a": {}}, "a.b") is MISSING
    assert lookup({"a": [{"b": 1}]}, "a.b") is MISSING
