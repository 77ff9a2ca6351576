"""delay_until: when it wakes (pure) and how it compiles."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from crm.automation.compiler import compile_workflow
from crm.automation.model import Workflow
from crm.automation.wake import wake_time
from pydantic import ValidationError

NOW = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)  # a Wednesday


def test_the_next_weekday_at_a_time_in_the_tenants_zone() -> None:
    # Sao Paulo is UTC-3: Monday 09:00 there is 12:00 UTC
    assert wake_time({"weekday": "monday", "time": "09:00"}, {}, NOW, "America/Sao_Paulo") == (
        "2026-12-07T12:00:00Z"
    )
    # today's weekday, later today: today; earlier today: next week
    assert wake_time({"weekday": "wednesday", "time": "18:00"}, {}, NOW, "UTC") == (
        "2026-12-02T18:00:00Z"
    )
    assert wake_time({"weekday": "wednesday", "time": "08:00"}, {}, NOW, "UTC") == (
        "2026-12-09T08:00:00Z"
    )


def test_a_date_field_plus_an_offset_and_what_does_not_wait() -> None:
    data = {"deal": {"expected_close_date": "2026-12-10", "closed_at": "2026-12-05T10:00:00+00:00"}}
    day_before = {"field": "deal.expected_close_date", "offset_seconds": -86400}
    assert wake_time(day_before, data, NOW, "Europe/Lisbon") == "2026-12-09T00:00:00Z"
    assert wake_time({"field": "deal.closed_at", "offset_seconds": 60}, data, NOW, "UTC") == (
        "2026-12-05T10:01:00Z"
    )
    # past, empty, missing or not a date: now
    for until in ({"field": "deal.closed_at", "offset_seconds": -9999999},
                  {"field": "deal.nothing"}, {"field": "deal.expected_close_date_x"}):  # fmt: skip
        assert wake_time(until, data, NOW, "UTC") == "2026-12-02T15:30:00Z"


def test_it_compiles_to_a_task_then_a_wait_on_the_computed_timestamp() -> None:
    workflow = Workflow.model_validate(
        {
            "trigger": {"event": "crm.deal.created"},
            "steps": [
                {"id": "before_close", "type": "delay_until",
                 "field": "deal.expected_close_date", "offset_seconds": -3600},
                {"id": "a", "type": "action", "action": {"kind": "webhook", "url": "https://h.io"}},
            ],
        }
    )  # fmt: skip
    asl = compile_workflow(workflow, step_function_arn="arn:aws:lambda:us-east-1:1:function:s")
    assert asl["StartAt"] == "When_before_close"
    task = asl["States"]["When_before_close"]
    assert task["Parameters"]["Payload"]["operation"] == "wake_time"
    assert task["Parameters"]["Payload"]["until"]["offset_seconds"] == -3600
    assert asl["States"]["DelayUntil_before_close"] == {
        "Type": "Wait",
        "TimestampPath": "$.wake.before_close.at",
        "Next": "Action_a",
    }


def test_exactly_one_of_field_and_weekday() -> None:
    base = {"trigger": {"event": "crm.lead.created"}}
    for step in ({"id": "w", "type": "delay_until"},
                 {"id": "w", "type": "delay_until", "field": "lead.x", "weekday": "monday"}):  # fmt: skip
        with pytest.raises(ValidationError):
            Workflow.model_validate({**base, "steps": [step]})
