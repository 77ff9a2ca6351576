"""The compiler's choice of state machine type: Express while the longest path waits less
than 5 minutes (an Express execution must finish within 5 minutes, actions included)."""

from __future__ import annotations

from typing import Any

import pytest
from crm.automation.compiler import execution_type
from crm.automation.model import Workflow

ACT = {"id": "act", "type": "action", "action": {"kind": "add_tag", "tag": "vip"}}


def wf(*steps: dict[str, Any]) -> Workflow:
    return Workflow.model_validate({"trigger": {"event": "crm.lead.created"}, "steps": steps})


def delay(step_id: str, seconds: int) -> dict[str, Any]:
    return {"id": step_id, "type": "delay", "seconds": seconds}


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ((ACT,), "EXPRESS"),
        ((delay("d", 299), ACT), "EXPRESS"),
        ((delay("d", 300), ACT), "STANDARD"),
        ((delay("a", 200), delay("b", 100), ACT), "STANDARD"),
        (
            (
                {"id": "c", "type": "condition",
                 "when": {"all": [{"field": "x", "op": "exists"}]},
                 "then": [delay("short", 10)], "else": [delay("long", 3600)]},
                ACT,
            ),
            "STANDARD",
        ),
    ],
)  # fmt: skip
def test_the_longest_path_chooses_the_type(
    steps: tuple[dict[str, Any], ...], expected: str
) -> None:
    assert execution_type(wf(*steps)) == expected
