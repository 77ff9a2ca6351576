"""Chains of automations on the real PostgreSQL: creating an automation that closes a cycle
is refused naming the automations and steps (unless it sets max_chain_depth); the events an
action writes carry the trigger's chain depth + 1; the router records a run whose trigger
event is deeper than allowed as skipped (chain-depth) and starts nothing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from crm.adapters.postgres.unit_of_work import PostgresDatabase
from crm.automation.model import Workflow
from crm.domain.errors import ValidationFailed
from crm.domain.events import CloudEvent
from crm.services.automation_runtime import route_event
from crm.services.automations import create_automation

from tests.integration.test_automation_actions import Org, lead_event

pytestmark = pytest.mark.integration

ARN = "arn:aws:lambda:us-east-1:123456789012:function:automation-step"


class NoExecutions:
    """The router must not start anything in these tests."""

    def ensure_state_machine(self, name: str, definition: dict[str, Any], **kw: Any) -> str:
        raise AssertionError("no state machine is needed for a skipped run")

    def start(self, *args: Any) -> str:
        raise AssertionError("a skipped run starts no execution")


def workflow(trigger: str, action: dict[str, Any], depth: int | None = None) -> Workflow:
    body: dict[str, Any] = {
        "trigger": {"event": trigger},
        "steps": [{"id": "act", "type": "action", "action": action}],
    }
    if depth is not None:
        body["max_chain_depth"] = depth
    return Workflow.model_validate(body)


def create(org: Org, name: str, wf: Workflow) -> dict[str, Any]:
    return create_automation(
        name, wf, org.owner, unit_of_work=org.db.unit_of_work, step_function_arn=ARN
    )


@pytest.fixture()
def org(db: PostgresDatabase) -> Org:
    return Org(db)


def test_a_two_automation_cycle_is_refused_naming_automations_and_steps(org: Org) -> None:
    create(org, "Tag assigned", workflow("crm.lead.assigned", {"kind": "add_tag", "tag": "vip"}))
    closing = workflow(
        "crm.lead.tagged", {"kind": "assign_owner", "user_id": str(org.owner.user_id)}
    )

    with pytest.raises(ValidationFailed) as refused:
        create(org, "Assign tagged", closing)

    [error] = refused.value.extra["errors"]
    assert error["loc"] == ["body", "workflow", "max_chain_depth"]
    assert "'Assign tagged' (steps act) emits crm.lead.assigned" in error["msg"]
    assert "'Tag assigned' (steps act) emits crm.lead.tagged" in error["msg"]
    assert [link["name"] for link in error["cycle"]] == ["Assign tagged", "Tag assigned"]
    with org.db.unit_of_work(org.id) as uow:
        assert [name for _, name, _ in uow.automation_chains.active_workflows()] == ["Tag assigned"]
    # With an explicit bound the user accepts the chain.
    bounded = workflow(
        "crm.lead.tagged", {"kind": "assign_owner", "user_id": str(org.owner.user_id)}, depth=3
    )
    assert create(org, "Assign tagged", bounded)["workflow"]["max_chain_depth"] == 3


def test_events_an_action_writes_are_one_level_deeper(org: Org, admin_conn: Any) -> None:
    lead = org.lead()
    trigger = CloudEvent(
        type="crm.lead.created", tenant_id=org.id, subject=f"leads/{lead['id']}",
        data={"lead": lead}, chain_depth=2,
    )  # fmt: skip
    org.run(org.payload(trigger, {"kind": "add_tag", "tag": "vip"}))
    rows = admin_conn.run(
        "SELECT envelope FROM outbox WHERE tenant_id = :t AND type = 'crm.lead.tagged'",
        t=org.id,
    )
    [envelope] = [row[0] for row in rows]
    assert envelope["chaindepth"] == 3 and envelope["causationid"] == str(trigger.id)


def test_the_router_skips_a_run_deeper_than_the_tenant_or_the_automation_allows(
    org: Org, admin_conn: Any
) -> None:
    wide = create(org, "Wide", workflow("crm.lead.created", {"kind": "add_tag", "tag": "vip"}))
    narrow = create(
        org, "Narrow", workflow("crm.lead.created", {"kind": "add_tag", "tag": "vip"}, depth=2)
    )
    admin_conn.run(
        "UPDATE tenants SET settings = settings || '{\"automation_max_chain_depth\": 4}'"
        " WHERE id = :t",
        t=org.id,
    )
    lead = org.lead()
    too_deep = CloudEvent(
        type="crm.lead.created", tenant_id=org.id, subject=f"leads/{lead['id']}",
        data={"lead": lead}, chain_depth=5,
    )  # fmt: skip
    with org.db.unit_of_work(org.id) as uow:
        assert route_event(too_deep, uow, engine=NoExecutions(), step_function_arn=ARN) == []
        uow.commit()
    rows = admin_conn.run(
        "SELECT automation_id, status, skip_reason, execution_arn FROM automation_runs"
        " WHERE tenant_id = :t AND event_id = :e ORDER BY automation_id",
        t=org.id,
        e=too_deep.id,
    )
    expected = sorted([uuid.UUID(wide["id"]), uuid.UUID(narrow["id"])])
    assert rows == [[a, "skipped", "chain-depth", None] for a in expected]

    # Depth 3: within the tenant's 4, beyond Narrow's 2 -> only Narrow is skipped (Wide would
    # start: the engine refuses, so the whole routing rolls back and nothing is recorded).
    within = lead_event(org, lead)
    within = CloudEvent(within.type, org.id, within.subject, within.data, chain_depth=3)
    with org.db.unit_of_work(org.id) as uow, pytest.raises(AssertionError, match="state machine"):
        route_event(within, uow, engine=NoExecutions(), step_function_arn=ARN)
    assert admin_conn.run("SELECT 1 FROM automation_runs WHERE event_id = :e", e=within.id) == []
