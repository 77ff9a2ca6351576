"""POST /automations/{id}/simulate through the local cloud: the path a run would take for an
inline event and for a stored lead (branch taken, clauses with field values, delay wake-up,
rendered mail, webhook described, refused action with its reason) — and nothing happened:
every tenant table keeps its row count, the lead its version, SES holds no mail, the webhook
receiver got nothing, no run was started. Roles and tenants: a seller is 403, another
tenant's automation or record 404."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import requests
from crm.adapters.postgres.connection import connect
from crm.adapters.postgres.unit_of_work import PostgresDatabase

from local.services import Endpoints
from tests.e2e.conftest import LocalCloudProcess, WebhookReceiver
from tests.e2e.test_automation_actions import mails_to
from tests.e2e.test_dead_letters_api import add_user, log_in
from tests.e2e.test_walking_skeleton import Client, sign_up_and_log_in

pytestmark = pytest.mark.e2e


def tenant_row_counts(endpoints: Endpoints, tenant_id: str) -> dict[str, int]:
    """Rows of every table with a tenant_id column that belong to the tenant."""
    conn = connect(endpoints.admin_database_url)
    try:
        tables = [
            row[0]
            for row in conn.run(
                "SELECT table_name FROM information_schema.columns c"
                " JOIN information_schema.tables t USING (table_schema, table_name)"
                " WHERE c.table_schema = 'public' AND c.column_name = 'tenant_id'"
                " AND t.table_type = 'BASE TABLE' ORDER BY 1"
            )
        ]
        return {
            table: conn.run(
                f'SELECT count(*) FROM "{table}" WHERE tenant_id = CAST(:t AS uuid)', t=tenant_id
            )[0][0]
            for table in tables
        }
    finally:
        conn.close()


def settled_row_counts(endpoints: Endpoints, tenant_id: str) -> dict[str, int]:
    """The counts once the consumers finished with the setup's events (processed_events
    grows as each consumer handles them): unchanged over three seconds."""
    deadline = time.monotonic() + 60
    counts = tenant_row_counts(endpoints, tenant_id)
    while time.monotonic() < deadline:
        time.sleep(3)
        again = tenant_row_counts(endpoints, tenant_id)
        if again == counts:
            return counts
        counts = again
    raise AssertionError("the tenant's rows kept changing")


def workflow(hook_url: str) -> dict[str, Any]:
    # Triggered by an event this test never causes, so no real run can start meanwhile.
    return {
        "trigger": {"event": "crm.lead.updated"},
        # Its tags update the lead, which would trigger it again: a cycle must be bounded.
        "max_chain_depth": 2,
        "steps": [
            {
                "id": "check",
                "type": "condition",
                "when": {"all": [{"field": "lead.email", "op": "contains", "value": "@vip."}]},
                "then": [
                    {"id": "wait", "type": "delay", "seconds": 3600},
                    {"id": "tag", "type": "action", "action": {"kind": "add_tag", "tag": "vip"}},
                    {
                        "id": "mail",
                        "type": "action",
                        "action": {
                            "kind": "send_email",
                            "to": "{{lead.email}}",
                            "subject": "Welcome, {{lead.name}}",
                            "body": "Hello {{lead.name}}.",
                        },
                    },
                    {
                        "id": "hook",
                        "type": "action",
                        "action": {"kind": "webhook", "url": hook_url},
                    },
                ],
                "else": [
                    {
                        "id": "ghost",
                        "type": "action",
                        "action": {"kind": "add_tag", "tag": "ghost"},
                    },
                    {"id": "never", "type": "delay", "seconds": 60},
                ],
            }
        ],
    }


def _setup(cloud: LocalCloudProcess, hook_url: str) -> tuple[Client, dict[str, Any], str, str]:
    owner, signup = sign_up_and_log_in(cloud.url, "Simco")
    assert owner.post("/tags", {"name": "vip"}).status_code == 201
    assert owner.post("/tags", {"name": "ghost"}).status_code == 201
    created = owner.post(
        "/automations", {"name": "VIP path", "workflow": workflow(hook_url), "publish": True}
    )
    assert created.status_code == 201, created.text
    # the "ghost" tag existed when the automation was saved (an unknown tag is refused at save)
    # and is gone now: the simulated step is refused
    deleted = requests.delete(f"{owner.base_url}/tags/ghost", headers=owner.headers, timeout=30)
    assert deleted.status_code in (200, 204), deleted.text
    email = f"ana-{uuid.uuid4().hex[:8]}@vip.example.com"
    lead = owner.post("/leads", {"name": "Ana Lima", "email": email})
    assert lead.status_code == 201, lead.text
    return owner, signup, created.json()["id"], lead.json()["id"]


def test_simulating_shows_the_path_and_changes_nothing(
    local_cloud: LocalCloudProcess, endpoints: Endpoints, webhook_receiver: WebhookReceiver
) -> None:
    owner, signup, automation_id, lead_id = _setup(local_cloud, webhook_receiver.url)
    lead = owner.get(f"/leads/{lead_id}").json()
    before = settled_row_counts(endpoints, signup["id"])

    # A stored lead: its e-mail matches, so the then branch with the rendered mail
    from_record = owner.post(
        f"/automations/{automation_id}/simulate", {"record": {"kind": "lead", "id": lead_id}}
    )
    # An inline event: no match, so the else branch, whose unknown tag is refused
    inline = owner.post(
        f"/automations/{automation_id}/simulate",
        {
            "event": {
                "type": "crm.lead.created",
                "subject": f"leads/{lead_id}",
                "data": {"lead": {"email": "bo@plain.example.com", "name": "Bo"}},
            }
        },
    )

    assert from_record.status_code == 200, from_record.text
    result = from_record.json()
    assert result["matched"] is True
    assert result["event"]["type"] == "crm.lead.updated"
    assert result["completed"] is True
    assert [step["id"] for step in result["path"]] == ["check", "wait", "tag", "mail", "hook"]
    check, wait, tag, mail, hook = result["path"]
    assert check["outcome"]["branch"] == "then"
    assert check["outcome"]["clauses"] == [
        {
            "field": "lead.email",
            "op": "contains",
            "value": "@vip.",
            "present": True,
            "actual": lead["email"],
            "result": True,
        }
    ]
    assert wait["outcome"]["seconds"] == 3600
    assert wait["outcome"]["wakes_at"] > lead["created_at"]
    assert tag["outcome"]["refused"] is False
    assert tag["outcome"]["would"]["tags"] == ["vip"]
    assert mail["outcome"]["would"] == {
        "kind": "send_email",
        "to": lead["email"],
        "subject": "Welcome, Ana Lima",
        "body": "Hello Ana Lima.",
    }
    assert hook["outcome"] == {
        "kind": "webhook",
        "config": {
            "on_error": "fail",
            "kind": "webhook",
            "url": webhook_receiver.url,
            "headers": {},
        },
        "url": webhook_receiver.url,
        "refused": False,
    }

    assert inline.status_code == 200, inline.text
    other = inline.json()
    assert other["matched"] is False  # crm.lead.created is not the trigger
    assert [step["id"] for step in other["path"]] == ["check", "ghost"]
    assert other["path"][0]["outcome"]["branch"] == "else"
    ghost = other["path"][1]["outcome"]
    assert ghost["refused"] is True
    assert "ghost" in ghost["reason"] and "unknown tags" in ghost["reason"]
    assert other["completed"] is False

    # Nothing was written, sent or called
    assert tenant_row_counts(endpoints, signup["id"]) == before
    after = owner.get(f"/leads/{lead_id}").json()
    assert (after["version"], after["tags"]) == (lead["version"], lead["tags"])
    assert mails_to(local_cloud, lead["email"]) == []
    assert webhook_receiver.requests == []


def test_roles_and_tenants(
    local_cloud: LocalCloudProcess, db: PostgresDatabase, webhook_receiver: WebhookReceiver
) -> None:
    owner, signup, automation_id, lead_id = _setup(local_cloud, webhook_receiver.url)
    stranger, _ = sign_up_and_log_in(local_cloud.url, "Othersim")
    other_lead = stranger.post("/leads", {"name": "Not yours"}).json()["id"]
    seller = log_in(
        local_cloud.url, add_user(db, uuid.UUID(signup["id"]), signup["slug"], "seller")
    )
    body = {"record": {"kind": "lead", "id": lead_id}}

    assert seller.post(f"/automations/{automation_id}/simulate", body).status_code == 403
    missing = stranger.post(f"/automations/{automation_id}/simulate", body)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    foreign = owner.post(
        f"/automations/{automation_id}/simulate", {"record": {"kind": "lead", "id": other_lead}}
    )
    assert foreign.status_code == 404
    both = owner.post(
        f"/automations/{automation_id}/simulate",
        {**body, "event": {"type": "crm.lead.created", "data": {}}},
    )
    assert both.status_code == 422
    assert owner.post(f"/automations/{automation_id}/simulate", {}).status_code == 422
    assert webhook_receiver.requests == []
