"""Trigger kinds: which catalog event each listens to, which events' data pass its
parameters, and how GET /triggers describes them."""

from __future__ import annotations

from typing import Any

import pytest
from crm.automation.model import Workflow
from crm.automation.triggers import parse_trigger, trigger_catalog, trigger_matches
from crm.domain.event_catalog import CATALOG

STAGE_A, STAGE_B, PIPE = "5a3c9d1e-0000-4000-8000-00000000000a", "5a3c9d1e-0000-4000-8000-00000000000b", "p1"  # fmt: skip
USER = "11111111-1111-4111-8111-111111111111"


def matches(trigger: dict[str, Any], data: dict[str, Any]) -> bool:
    return trigger_matches(parse_trigger(trigger), data)


def test_every_kind_listens_to_a_catalogued_event() -> None:
    for item in trigger_catalog():
        assert item["event"] in CATALOG, item
        assert parse_trigger(item["example"]).event == item["event"]
        assert item["parameters"]["properties"]["kind"]["const"] == item["kind"]


@pytest.mark.parametrize(
    ("trigger", "event"),
    [
        ({"event": "crm.deal.created"}, "crm.deal.created"),
        (
            {"kind": "record_event", "record": "contact", "action": "restored"},
            "crm.contact.restored",
        ),
        ({"kind": "field_changed", "record": "deal", "field": "value"}, "crm.deal.updated"),
        ({"kind": "deal_won"}, "crm.deal.won"),
        ({"kind": "lead_status_changed"}, "crm.lead.status_changed"),
        ({"kind": "tag_removed", "record": "contact"}, "crm.contact.tagged"),
        ({"kind": "owner_assigned", "record": "deal"}, "crm.deal.updated"),
        ({"kind": "owner_assigned", "record": "lead"}, "crm.lead.assigned"),
    ],
)
def test_a_kind_listens_to_its_event(trigger: dict[str, Any], event: str) -> None:
    assert parse_trigger(trigger).event == event


def test_field_changed_matches_the_field_and_its_from_and_to() -> None:
    changed = {"changes": {"score": {"old": 10, "new": 90}}}
    assert matches({"kind": "field_changed", "record": "lead", "field": "score"}, changed)
    assert not matches({"kind": "field_changed", "record": "lead", "field": "name"}, changed)
    assert matches({"kind": "field_changed", "record": "lead", "field": "score", "to": 90}, changed)
    assert not matches(
        {"kind": "field_changed", "record": "lead", "field": "score", "to": 80}, changed
    )
    assert matches(
        {"kind": "field_changed", "record": "lead", "field": "score", "from": 10}, changed
    )
    # null is a value ("was empty"), unlike leaving `from` out
    assert not matches(
        {"kind": "field_changed", "record": "lead", "field": "score", "from": None}, changed
    )
    assert matches(
        {"kind": "field_changed", "record": "lead", "field": "score", "from": None},
        {"changes": {"score": {"old": None, "new": 5}}},
    )


def test_field_changed_on_a_custom_field_reads_the_custom_fields_change() -> None:
    trigger = {
        "kind": "field_changed",
        "record": "lead",
        "field": "custom_fields.plan",
        "to": "pro",
    }
    change = {"changes": {"custom_fields": {"old": {"plan": "free"}, "new": {"plan": "pro"}}}}
    assert matches(trigger, change)
    same = {"changes": {"custom_fields": {"old": {"plan": "pro", "x": 1}, "new": {"plan": "pro"}}}}
    assert not matches(trigger, same)


def test_the_unset_from_and_to_survive_a_stored_definition() -> None:
    workflow = Workflow.model_validate(
        {
            "trigger": {"kind": "field_changed", "record": "lead", "field": "score", "to": None},
            "steps": [{"id": "d", "type": "delay", "seconds": 1}],
        }
    )
    stored = Workflow.model_validate(workflow.model_dump(mode="json"))
    assert stored.trigger.has_to and not stored.trigger.has_from
    assert stored == workflow


def test_stage_won_lost_status_tag_and_owner_parameters_narrow_the_event() -> None:
    moved = {
        "deal": {"pipeline_id": PIPE},
        "from_stage": {"id": STAGE_A},
        "to_stage": {"id": STAGE_B},
    }
    assert matches({"kind": "deal_stage_changed"}, moved)
    assert matches(
        {"kind": "deal_stage_changed", "to_stage_id": STAGE_B, "pipeline_id": PIPE}, moved
    )
    assert not matches({"kind": "deal_stage_changed", "from_stage_id": STAGE_B}, moved)
    assert matches({"kind": "deal_won", "pipeline_id": PIPE}, {"deal": {"pipeline_id": PIPE}})
    assert not matches(
        {"kind": "deal_lost", "pipeline_id": "other"}, {"deal": {"pipeline_id": PIPE}}
    )
    status = {"from_status": "new", "to_status": "qualified"}
    assert matches({"kind": "lead_status_changed", "to": "qualified"}, status)
    assert not matches({"kind": "lead_status_changed", "from": "lost"}, status)
    tagged = {"added": ["vip"], "removed": []}
    assert matches({"kind": "tag_added", "record": "lead", "tag": "vip"}, tagged)
    assert matches({"kind": "tag_added", "record": "lead"}, tagged)
    assert not matches({"kind": "tag_removed", "record": "lead"}, tagged)
    assert matches({"kind": "owner_assigned", "record": "lead"}, {"to_owner_id": USER})
    assert not matches({"kind": "owner_assigned", "record": "lead"}, {"to_owner_id": None})
    assert matches(
        {"kind": "owner_assigned", "record": "deal", "owner_id": USER},
        {"changes": {"owner_id": {"old": None, "new": USER}}},
    )
    assert not matches({"kind": "owner_assigned", "record": "deal"}, {"changes": {"title": {}}})
