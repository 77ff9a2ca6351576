"""Automation actions end to end through the local cloud: POST /automations, an API write,
outbox -> RabbitMQ -> automation_router -> Step Functions (embedded moto) -> automation_step ->
the tag on the lead (GET /leads/{id}), the mail in embedded SES, the deal in its new stage;
a republished duplicate event neither tags, mails nor moves twice; a step that cannot act
fails the Step Functions run with its reason in the cause."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pika
import pytest
import requests
from crm.adapters.postgres.connection import connect

from local.services import Endpoints
from tests.e2e.conftest import LocalCloudProcess
from tests.e2e.test_walking_skeleton import (
    _eventually,
    _wait_until_consumed,
    sign_up_and_log_in,
)

pytestmark = pytest.mark.e2e


def mails_to(cloud: LocalCloudProcess, address: str) -> list[dict[str, Any]]:
    data = requests.get(f"{cloud.moto_url}/moto-api/data.json", timeout=10).json()
    return [m for m in data["ses"]["Message"] if address in m["destinations"]["ToAddresses"]]


def republish(endpoints: Endpoints, event_type: str, subject: str) -> None:
    """Publish the outbox's event again, as a duplicate delivery would."""
    conn = connect(endpoints.admin_database_url)
    try:
        rows = conn.run(
            "SELECT envelope::text FROM outbox WHERE type = :type AND envelope->>'subject' = :s",
            type=event_type,
            s=subject,
        )
    finally:
        conn.close()
    assert len(rows) == 1
    connection = pika.BlockingConnection(pika.URLParameters(endpoints.amqp_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish("crm.events", event_type, rows[0][0].encode(), mandatory=True)
    finally:
        connection.close()


def ledger_rows(endpoints: Endpoints, tenant_id: str, kind: str) -> list[Any]:
    conn = connect(endpoints.admin_database_url)
    try:
        rows: list[Any] = conn.run(
            "SELECT result FROM action_executions WHERE tenant_id = CAST(:t AS uuid)"
            " AND kind = :kind",
            t=tenant_id,
            kind=kind,
        )
    finally:
        conn.close()
    return rows


def test_on_lead_created_add_tag_and_send_email_once(
    local_cloud: LocalCloudProcess, endpoints: Endpoints
) -> None:
    tenant, signup = sign_up_and_log_in(local_cloud.url, "Tagco")
    assert tenant.post("/tags", {"name": "vip"}).status_code == 201
    workflow = {
        "trigger": {"event": "crm.lead.created"},
        "steps": [
            {"id": "tag", "type": "action", "action": {"kind": "add_tag", "tag": "vip"}},
            {
                "id": "welcome",
                "type": "action",
                "action": {
                    "kind": "send_email",
                    "to": "{{lead.email}}",
                    "subject": "Welcome, {{lead.name}}",
                    "body": "Hello {{lead.name}}, thanks for your interest.",
                },
            },
        ],
    }
    created = tenant.post(
        "/automations", {"name": "Welcome VIPs", "workflow": workflow, "publish": True}
    )
    assert created.status_code == 201, created.text

    email = f"ana-{signup['id'][:8]}@example.com"
    lead = tenant.post("/leads", {"name": "Ana Lima", "email": email}).json()

    assert _eventually(lambda: len(mails_to(local_cloud, email)) == 1, timeout=60), (
        local_cloud.log_tail()
    )
    assert tenant.get(f"/leads/{lead['id']}").json()["tags"] == ["vip"]
    [mail] = mails_to(local_cloud, email)
    assert mail["subject"] == "Welcome, Ana Lima"
    assert mail["body"] == "Hello Ana Lima, thanks for your interest."

    # A duplicate delivery of the event: no second tag change, no second mail. A sentinel lead
    # created after it runs the same automation: once its mail is sent, the duplicate (queued
    # before it) has had every chance to act.
    version = tenant.get(f"/leads/{lead['id']}").json()["version"]
    republish(endpoints, "crm.lead.created", f"leads/{lead['id']}")
    _wait_until_consumed(endpoints, "q.automation")
    sentinel = f"sentinel-{signup['id'][:8]}@example.com"
    tenant.post("/leads", {"name": "Sentinel", "email": sentinel})
    assert _eventually(lambda: len(mails_to(local_cloud, sentinel)) == 1, timeout=60)
    assert len(mails_to(local_cloud, email)) == 1
    assert tenant.get(f"/leads/{lead['id']}").json()["version"] == version
    assert len(ledger_rows(endpoints, signup["id"], "send_email")) == 2  # the lead, the sentinel
    assert len(ledger_rows(endpoints, signup["id"], "add_tag")) == 2


def test_on_deal_created_move_stage(local_cloud: LocalCloudProcess, endpoints: Endpoints) -> None:
    tenant, signup = sign_up_and_log_in(local_cloud.url, "Moveco")
    pipeline = tenant.get("/pipelines").json()["items"][0]
    proposal = next(stage for stage in pipeline["stages"] if stage["name"] == "Proposal")
    workflow = {
        "trigger": {"event": "crm.deal.created"},
        "steps": [
            {
                "id": "advance",
                "type": "action",
                "action": {
                    "kind": "move_stage",
                    "pipeline_id": pipeline["id"],
                    "stage_id": proposal["id"],
                },
            }
        ],
    }
    created = tenant.post(
        "/automations", {"name": "Fast track", "workflow": workflow, "publish": True}
    )
    assert created.status_code == 201, created.text

    deal = tenant.post("/deals", {"title": "Big one"})
    assert deal.status_code == 201, deal.text
    deal_id = deal.json()["id"]

    assert _eventually(
        lambda: tenant.get(f"/deals/{deal_id}").json()["stage_id"] == proposal["id"], timeout=60
    ), local_cloud.log_tail()
    history = tenant.get(f"/deals/{deal_id}/stage-history").json()["items"]
    assert [stay["stage_name"] for stay in history] == ["Prospecting", "Proposal"]

    # A duplicate delivery, then a sentinel deal: once the sentinel moved, the duplicate
    # (queued before it) has had every chance to move the first deal again.
    version = tenant.get(f"/deals/{deal_id}").json()["version"]
    republish(endpoints, "crm.deal.created", f"deals/{deal_id}")
    _wait_until_consumed(endpoints, "q.automation")
    sentinel_id = tenant.post("/deals", {"title": "Sentinel"}).json()["id"]
    assert _eventually(
        lambda: tenant.get(f"/deals/{sentinel_id}").json()["stage_id"] == proposal["id"],
        timeout=60,
    ), local_cloud.log_tail()
    assert tenant.get(f"/deals/{deal_id}").json()["version"] == version
    assert len(tenant.get(f"/deals/{deal_id}/stage-history").json()["items"]) == 2
    assert len(ledger_rows(endpoints, signup["id"], "move_stage")) == 2  # the deal, the sentinel


def test_a_step_that_cannot_act_fails_the_run_with_its_reason(
    local_cloud: LocalCloudProcess, endpoints: Endpoints
) -> None:
    tenant, signup = sign_up_and_log_in(local_cloud.url, "Ghostco")
    workflow = {
        "trigger": {"event": "crm.lead.created"},
        "steps": [{"id": "tag", "type": "action", "action": {"kind": "add_tag", "tag": "ghost"}}],
    }
    # The tag exists when the automation is published (an unknown tag is refused at save)
    # and is deleted before the run: the step then refuses to act
    assert tenant.post("/tags", {"name": "ghost"}).status_code == 201
    created = tenant.post(
        "/automations", {"name": "Tag with a ghost", "workflow": workflow, "publish": True}
    )
    assert created.status_code == 201, created.text
    deleted = requests.delete(f"{tenant.base_url}/tags/ghost", headers=tenant.headers, timeout=30)
    assert deleted.status_code in (200, 204), deleted.text
    lead = tenant.post("/leads", {"name": "Bo"}).json()

    sfn = boto3.client(
        "stepfunctions",
        endpoint_url=local_cloud.moto_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )

    def finished() -> dict[str, Any] | None:
        arns = execution_arns(endpoints, signup["id"])
        if not arns:
            return None
        execution: dict[str, Any] = sfn.describe_execution(executionArn=arns[0])
        return None if execution["status"] == "RUNNING" else execution

    # The Task retries the refused step (2 + 4 + 8 s) before the run fails.
    assert _eventually(lambda: finished() is not None, timeout=60), local_cloud.log_tail()
    execution = finished()
    assert execution is not None and execution["status"] == "FAILED"
    cause = json.loads(execution["cause"])
    assert cause["step_id"] == "tag"
    assert cause["error"]["Error"] == "ActionFailed"
    message = json.loads(cause["error"]["Cause"])["errorMessage"]
    assert "no tag named 'ghost'" in message
    assert tenant.get(f"/leads/{lead['id']}").json()["tags"] == []
    assert ledger_rows(endpoints, signup["id"], "add_tag") == []


def execution_arns(endpoints: Endpoints, tenant_id: str) -> list[str]:
    conn = connect(endpoints.admin_database_url)
    try:
        rows = conn.run(
            "SELECT execution_arn FROM automation_runs WHERE tenant_id = CAST(:t AS uuid)"
            " AND execution_arn IS NOT NULL",
            t=tenant_id,
        )
    finally:
        conn.close()
    return [row[0] for row in rows]
