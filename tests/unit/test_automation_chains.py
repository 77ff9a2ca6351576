"""Chains of automations: which events an automation emits, cycles among a tenant's active
automations, and the chain depth an event carries (CloudEvents extension `chaindepth`)."""

from __future__ import annotations

import uuid
from typing import Any

from crm.automation.chains import ChainNode, emitted_events, find_cycle
from crm.automation.model import Workflow
from crm.domain.events import CloudEvent


def workflow(trigger: str, *actions: dict[str, Any], depth: int | None = None) -> Workflow:
    steps = [{"id": f"s{i}", "type": "action", "action": a} for i, a in enumerate(actions)]
    body: dict[str, Any] = {"trigger": {"event": trigger}, "steps": steps}
    if depth is not None:
        body["max_chain_depth"] = depth
    return Workflow.model_validate(body)


def node(name: str, wf: Workflow) -> ChainNode:
    return ChainNode(uuid.uuid4(), name, wf)


TAG = {"kind": "add_tag", "tag": "hot"}
ASSIGN = {"kind": "assign_owner", "user_id": "u1"}
NOTE = {"kind": "create_note", "body": "x"}


def test_emitted_events_follow_the_trigger_record_kind() -> None:
    emitted = emitted_events(workflow("crm.contact.created", NOTE, TAG))
    assert emitted == {
        "crm.contact.updated": ("s1",),
        "crm.contact.tagged": ("s1",),
    }
    mover = {"kind": "move_stage", "pipeline_id": "p", "stage_id": "s"}
    assert set(emitted_events(workflow("crm.deal.created", mover))) == {
        "crm.deal.updated", "crm.deal.stage_changed", "crm.deal.won", "crm.deal.lost",
    }  # fmt: skip
    assert emitted_events(workflow("crm.lead.created", NOTE)) == {}


def test_a_two_automation_cycle_is_found_with_its_steps_and_events() -> None:
    a = node("Tagger", workflow("crm.lead.assigned", NOTE, TAG))
    b = node("Assigner", workflow("crm.lead.tagged", ASSIGN))
    cycle = find_cycle(b, [a])
    assert cycle is not None
    assert [(link.name, link.steps, link.event) for link in cycle] == [
        ("Assigner", ("s0",), "crm.lead.assigned"),
        ("Tagger", ("s1",), "crm.lead.tagged"),
    ]


def test_an_automation_that_triggers_itself_is_a_cycle() -> None:
    own = node("Self", workflow("crm.lead.updated", {"kind": "update_field", "field": "score",
                                                     "value": 1}))  # fmt: skip
    cycle = find_cycle(own, [])
    assert cycle is not None and [link.event for link in cycle] == ["crm.lead.updated"]


def test_a_chain_without_a_way_back_is_no_cycle() -> None:
    a = node("A", workflow("crm.lead.created", TAG))
    b = node("B", workflow("crm.lead.tagged", {"kind": "create_deal", "title": "t",
                                               "pipeline_id": "p"}))  # fmt: skip
    c = node("C", workflow("crm.deal.created", NOTE))
    assert find_cycle(a, [b, c]) is None
    assert find_cycle(c, [a, b]) is None


def test_chain_depth_travels_in_the_envelope_and_grows_by_one_per_run() -> None:
    tenant = uuid.uuid4()
    trigger = CloudEvent("crm.lead.created", tenant, "leads/1", {}, chain_depth=3)
    envelope = trigger.to_dict()
    assert envelope["chaindepth"] == 3
    assert CloudEvent.from_dict(envelope).chain_depth == 3
    caused = trigger.caused(CloudEvent("crm.lead.tagged", tenant, "leads/1", {}))
    assert caused.chain_depth == 4 and caused.causation_id == str(trigger.id)
    plain = CloudEvent("crm.lead.created", tenant, "leads/1", {})
    assert "chaindepth" not in plain.to_dict()
    assert CloudEvent.from_dict({**plain.to_dict(), "chaindepth": "x"}).chain_depth == 0
