"""Express or Standard, on embedded Step Functions with real execution: the router creates a
workflow that waits less than 5 minutes as an Express state machine and a longer one as
Standard, both run their actions through automation_step with the ledger, and a run reads
back step by step for both (moto records Express executions like Standard ones; real Step
Functions records no Express history, and the run then reads from the ledger alone)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from crm.automation.model import Workflow
from crm.domain.events import CloudEvent
from crm.domain.run_inspection import ExecutionInfo
from crm.domain.tenants import Principal, Role
from crm.domain.webhooks import TargetPolicy
from crm.services.automation_runs import get_run
from crm.services.automation_runtime import route_event
from crm.services.automation_webhooks import OutboundSettings
from crm.services.automations import create_automation
from crm.services.leads import NewLead, create_lead

from tests.conftest import make_tenant
from tests.integration import test_automation_runs as runs
from tests.integration.test_automation_runs import HOOK, STEP_FUNCTION_ARN, Cloud

cloud = runs.cloud  # the embedded Step Functions fixture, executions routed to automation_step

pytestmark = pytest.mark.integration


def automation(cloud: Cloud, owner: Principal, delay: int | None) -> uuid.UUID:
    steps: list[dict[str, Any]] = []
    if delay is not None:
        steps.append({"id": "wait", "type": "delay", "seconds": delay})
    steps.append({"id": "notify", "type": "action", "action": {"kind": "webhook", "url": HOOK}})
    workflow = Workflow.model_validate({"trigger": {"event": "crm.lead.created"}, "steps": steps})
    created = create_automation(
        f"delay {delay}", workflow, owner, unit_of_work=cloud.db.unit_of_work,
        step_function_arn=STEP_FUNCTION_ARN,
        outbound=OutboundSettings(
            cipher=runs.CIPHER, policy=TargetPolicy(allow_http=True),
            resolve=lambda host, port: ["93.184.216.34"],
        ),
    )  # fmt: skip
    return uuid.UUID(created["id"])


def route_new_lead(cloud: Cloud, owner: Principal) -> list[str]:
    lead, _ = create_lead(NewLead(name="Lee"), owner, unit_of_work=cloud.db.unit_of_work)
    rows = cloud.admin_conn.run(
        "SELECT envelope FROM outbox WHERE type = 'crm.lead.created'"
        " AND envelope->'data'->'lead'->>'id' = :id",
        id=lead["id"],
    )
    with cloud.db.unit_of_work(owner.tenant_id) as uow:
        arns = route_event(
            CloudEvent.from_dict(rows[0][0]), uow, engine=cloud.engine,
            step_function_arn=STEP_FUNCTION_ARN,
        )  # fmt: skip
        uow.commit()
    return arns


def machine_type(cloud: Cloud, automation_id: uuid.UUID) -> str:
    rows = cloud.admin_conn.run(
        "SELECT state_machine_arn FROM automation_versions WHERE automation_id = :a",
        a=automation_id,
    )
    found: str = cloud.client.describe_state_machine(stateMachineArn=rows[0][0])["type"]
    return found


def test_short_waits_run_express_long_ones_standard_and_both_read_back(cloud: Cloud) -> None:
    tenant, user = make_tenant(cloud.db, "types")
    owner = Principal(tenant.id, user.id, Role.OWNER)
    quick = automation(cloud, owner, None)
    slow = automation(cloud, owner, 301)
    arns = route_new_lead(cloud, owner)

    assert machine_type(cloud, quick) == "EXPRESS"
    assert machine_type(cloud, slow) == "STANDARD"
    assert len(arns) == 2

    # The Express run finishes (moto executes it) and reads back step by step.
    express_run = cloud.admin_conn.run(
        "SELECT id FROM automation_runs WHERE automation_id = :a", a=quick
    )[0][0]

    def detail() -> dict[str, Any]:
        return get_run(express_run, owner, unit_of_work=cloud.db.unit_of_work,
                       executions=cloud.executions())  # fmt: skip

    deadline = time.monotonic() + 30
    while detail()["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    body = detail()
    assert body["status"] == "succeeded"
    [step] = body["steps"]
    assert step["state"] == "succeeded" and step["result"]["status"] == 204
    # The Standard one waits (301 s): entered its delay, still running.
    slow_run = cloud.admin_conn.run(
        "SELECT id FROM automation_runs WHERE automation_id = :a", a=slow
    )[0][0]
    steps = get_run(slow_run, owner, unit_of_work=cloud.db.unit_of_work,
                    executions=cloud.executions())["steps"]  # fmt: skip
    assert [s["state"] for s in steps] == ["running", "not_reached"]
    assert len(cloud.webhooks.sent) == 1


class NoHistory:
    """What real Step Functions answers for an Express execution: nothing recorded."""

    def describe(self, execution_arn: str) -> ExecutionInfo | None:
        return None

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        return []


def test_without_history_a_run_reads_its_actions_from_the_ledger(cloud: Cloud) -> None:
    tenant, user = make_tenant(cloud.db, "types")
    owner = Principal(tenant.id, user.id, Role.OWNER)
    quick = automation(cloud, owner, None)
    route_new_lead(cloud, owner)
    run_id = cloud.admin_conn.run(
        "SELECT id FROM automation_runs WHERE automation_id = :a", a=quick
    )[0][0]
    deadline = time.monotonic() + 30
    while not cloud.webhooks.sent and time.monotonic() < deadline:
        time.sleep(0.05)
    while time.monotonic() < deadline:
        body = get_run(run_id, owner, unit_of_work=cloud.db.unit_of_work, executions=NoHistory())
        if body["steps"][0]["result"] is not None:
            break
        time.sleep(0.05)
    [step] = body["steps"]
    assert step["state"] == "succeeded" and step["result"]["status"] == 204
