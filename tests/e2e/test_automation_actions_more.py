"""The actions of issue 11 end to end through the local cloud: GET /actions; one automation on
crm.lead.created that updates a field, assigns the owner round-robin, writes a note, a task and
a notification (timeline entries), sends an SMS through SNS on embedded moto and creates a
deal, with a step that fails under `on_error: continue`; the event published three times
changes nothing more, and the run detail shows the continued step. A cycle of automations is
refused at create; a bounded self-triggering chain stops at the tenant's depth limit."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from crm.adapters.postgres.connection import connect

from local.services import Endpoints
from tests.e2e.conftest import LocalCloudProcess
from tests.e2e.test_automation_actions import ledger_rows, republish
from tests.e2e.test_walking_skeleton import _eventually, _wait_until_consumed, sign_up_and_log_in

pytestmark = pytest.mark.e2e


def test_get_actions_lists_every_kind_with_schema_and_example(
    local_cloud: LocalCloudProcess,
) -> None:
    tenant, _ = sign_up_and_log_in(local_cloud.url, "Catalogco")
    response = tenant.get("/actions")
    assert response.status_code == 200, response.text
    items = {item["kind"]: item for item in response.json()["items"]}
    assert set(items) >= {
        "webhook", "add_tag", "remove_tag", "send_email", "move_stage", "update_field",
        "assign_owner", "create_deal", "create_note", "create_task", "notify_user", "send_sms",
    }  # fmt: skip
    sms = items["send_sms"]
    assert sms["schema"]["properties"]["on_error"]["enum"] == ["fail", "continue"]
    assert sms["example"]["kind"] == "send_sms"
    assert requests.get(f"{local_cloud.url}/actions", timeout=10).status_code == 401


def test_every_new_action_once_through_the_local_cloud(
    local_cloud: LocalCloudProcess, endpoints: Endpoints
) -> None:
    tenant, signup = sign_up_and_log_in(local_cloud.url, "Actionco")
    pipeline = tenant.get("/pipelines").json()["items"][0]
    me = tenant.get("/users").json()["items"][0]
    workflow = {
        "trigger": {"event": "crm.lead.created"},
        "steps": [
            {"id": "source", "type": "action",
             "action": {"kind": "update_field", "field": "source", "value": "web:{{lead.name}}"}},
            {"id": "owner", "type": "action",
             "action": {"kind": "assign_owner", "round_robin": {"role": "owner"}}},
            {"id": "ghost", "type": "action",
             "action": {"kind": "add_tag", "tag": "ghost", "on_error": "continue"}},
            {"id": "note", "type": "action",
             "action": {"kind": "create_note", "body": "Arrived: {{lead.name}}"}},
            {"id": "task", "type": "action",
             "action": {"kind": "create_task", "title": "Call {{lead.name}}", "due_in_days": 1}},
            {"id": "ping", "type": "action",
             "action": {"kind": "notify_user", "message": "New lead {{lead.name}}"}},
            {"id": "sms", "type": "action",
             "action": {"kind": "send_sms", "to": "{{lead.phone}}", "message": "Hi {{lead.name}}"}},
            {"id": "deal", "type": "action",
             "action": {"kind": "create_deal", "title": "{{lead.name}} deal",
                        "pipeline_id": pipeline["id"], "value": "900.00"}},
        ],
    }  # fmt: skip
    # Saving checks that the tag exists; the run meets it gone, which on_error continues past.
    assert tenant.post("/tags", {"name": "ghost"}).status_code == 201
    created = tenant.post(
        "/automations", {"name": "Everything", "workflow": workflow, "publish": True}
    )
    assert created.status_code == 201, created.text
    deleted = requests.delete(f"{tenant.base_url}/tags/ghost", headers=tenant.headers, timeout=30)
    assert deleted.status_code == 200, deleted.text
    lead = tenant.post("/leads", {"name": "Rui", "phone": "+5511912345678"}).json()

    assert _eventually(
        lambda: len(ledger_rows(endpoints, signup["id"], "create_deal")) == 1, timeout=90
    ), local_cloud.log_tail()
    # The same event twice more: the run exists, the ledger holds every step.
    for _ in range(2):
        republish(endpoints, "crm.lead.created", f"leads/{lead['id']}")
    _wait_until_consumed(endpoints, "q.automation")
    runs = tenant.get(f"/automations/{created.json()['id']}/runs").json()["items"]
    assert len(runs) == 1
    assert _eventually(
        lambda: tenant.get(f"/automation-runs/{runs[0]['id']}").json()["status"] == "succeeded",
        timeout=60,
    ), local_cloud.log_tail()

    after = tenant.get(f"/leads/{lead['id']}").json()
    assert after["source"] == "web:Rui" and after["owner_id"] == me["id"]
    timeline = tenant.get(f"/leads/{lead['id']}/timeline").json()["items"]
    kinds = [item.get("type") for item in timeline]
    assert kinds.count("note") == 1, timeline
    text = repr(timeline)
    assert text.count("task_created") == 1 and text.count("user_notified") == 1
    deals = [d for d in tenant.get("/deals").json()["items"] if d.get("lead_id") == lead["id"]]
    assert len(deals) == 1 and deals[0]["title"] == "Rui deal"
    [sms] = ledger_rows(endpoints, signup["id"], "send_sms")
    assert sms[0]["to"] == "+5511912345678" and sms[0]["message_id"]
    for kind in ("update_field", "assign_owner", "create_note", "create_task", "notify_user"):
        assert len(ledger_rows(endpoints, signup["id"], kind)) == 1, kind
    assert ledger_rows(endpoints, signup["id"], "add_tag") == []

    detail = tenant.get(f"/automation-runs/{runs[0]['id']}").json()
    steps = {step["id"]: step for step in detail["steps"]}
    assert steps["ghost"]["state"] == "failed" and steps["ghost"]["continued"] is True
    assert steps["ghost"]["on_error"] == "continue"
    assert "ghost" in (steps["ghost"]["error"] or {}).get("message", "")
    assert steps["deal"]["state"] == "succeeded" and steps["deal"]["continued"] is False


def test_a_cycle_is_refused_at_create_and_a_bounded_chain_stops_at_the_depth_limit(
    local_cloud: LocalCloudProcess, endpoints: Endpoints
) -> None:
    tenant, signup = sign_up_and_log_in(local_cloud.url, "Chainco")
    me = tenant.get("/users").json()["items"][0]
    assert tenant.post("/tags", {"name": "vip"}).status_code == 201
    tagger = {
        "trigger": {"event": "crm.lead.assigned"},
        "steps": [{"id": "tag", "type": "action", "action": {"kind": "add_tag", "tag": "vip"}}],
    }
    assigner = {
        "trigger": {"event": "crm.lead.tagged"},
        "steps": [{"id": "assign", "type": "action",
                   "action": {"kind": "assign_owner", "user_id": me["id"]}}],
    }  # fmt: skip
    assert (
        tenant.post(
            "/automations", {"name": "Tagger", "workflow": tagger, "publish": True}
        ).status_code
        == 201
    )
    refused = tenant.post(
        "/automations", {"name": "Assigner", "workflow": assigner, "publish": True}
    )
    assert refused.status_code == 422, refused.text
    [error] = refused.json()["errors"]
    assert error["loc"] == ["body", "workflow", "max_chain_depth"]
    assert "'Assigner' (steps assign) emits crm.lead.assigned" in error["msg"]
    assert "'Tagger' (steps tag) emits crm.lead.tagged" in error["msg"]

    # An automation that triggers itself, saved with a bound of its own the tenant's limit
    # (lowered to 3 here) undercuts: runs at depths 0..3, the fifth is skipped.
    grower = {
        "trigger": {"event": "crm.lead.updated"},
        "max_chain_depth": 50,
        "steps": [{"id": "grow", "type": "action",
                   "action": {"kind": "update_field", "field": "source",
                              "value": "a{{record.source}}"}}],
    }  # fmt: skip
    created = tenant.post("/automations", {"name": "Grower", "workflow": grower, "publish": True})
    assert created.status_code == 201, created.text
    # The tenant's limit, lowered to 3 through its settings.
    settings_url = f"{local_cloud.url}/tenants/{signup['id']}/settings"
    etag = requests.get(settings_url, headers=tenant.headers, timeout=30).headers["ETag"]
    patched = requests.patch(
        settings_url,
        json={"automation_max_chain_depth": 3},
        headers={**tenant.headers, "If-Match": etag},
        timeout=30,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["automation_max_chain_depth"] == 3
    conn = connect(endpoints.admin_database_url)
    try:
        lead = tenant.post("/leads", {"name": "Chain", "source": "s"}).json()
        assert tenant.post(f"/leads/{lead['id']}/tags/vip", {}).status_code in (200, 201)

        def skipped() -> list[Any]:
            rows: list[Any] = conn.run(
                "SELECT skip_reason FROM automation_runs WHERE automation_id = CAST(:a AS uuid)"
                " AND status = 'skipped'",
                a=created.json()["id"],
            )
            return rows

        assert _eventually(lambda: skipped() == [["chain-depth"]], timeout=90), (
            local_cloud.log_tail()
        )
        runs = conn.run(
            "SELECT count(*) FROM automation_runs WHERE automation_id = CAST(:a AS uuid)",
            a=created.json()["id"],
        )
    finally:
        conn.close()
    # The skipped run emitted nothing, so the chain has ended: 4 runs and the skipped one.
    assert runs == [[5]]
    assert tenant.get(f"/leads/{lead['id']}").json()["source"] == "aaaas"
