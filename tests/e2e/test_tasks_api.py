"""Tasks through the local cloud: create (due in the tenant's time zone), filters (mine,
overdue, due today, by record, done), done/undone with If-Match, the record's timeline, the
crm.task.* events, and who sees what (sellers their own; other tenants nothing)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.conftest import LocalCloudProcess
from tests.e2e.tenancy_support import Api, add_member, sign_up

pytestmark = pytest.mark.e2e


def create(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/tasks", body)
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


def ids(api: Api, query: str = "") -> list[str]:
    response = api.get(f"/tasks{query}")
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_tasks_are_due_in_the_tenant_zone_filtered_completed_and_on_the_timeline(
    local_cloud: LocalCloudProcess, admin_conn: Any
) -> None:
    tenant = sign_up(local_cloud.url, "Tasks")
    api = tenant.owner.api
    settings = api.get(f"/tenants/{tenant.id}/settings")
    changed = api.patch(
        f"/tenants/{tenant.id}/settings",
        {"timezone": "America/Sao_Paulo"},
        **{"If-Match": settings.headers["ETag"]},
    )
    assert changed.status_code == 200, changed.text
    lead = api.post("/leads", {"name": "Ana"}).json()
    zone = ZoneInfo("America/Sao_Paulo")
    now_local = datetime.now(zone)
    later_today = now_local.replace(hour=23, minute=59, second=0, microsecond=0)
    call = create(api, {"title": "Call Ana", "type": "call",
                        "due_at": later_today.replace(tzinfo=None).isoformat(),
                        "record": {"type": "lead", "id": lead["id"]}})  # fmt: skip
    # a naive due moment is the tenant's wall clock: 23:59 in Sao Paulo
    assert datetime.fromisoformat(call["due_at"]) == later_today.astimezone(UTC)
    late = create(
        api, {"title": "Overdue", "due_at": (datetime.now(UTC) - timedelta(days=2)).isoformat()}
    )
    tomorrow = create(api, {"title": "Tomorrow", "type": "meeting",
                            "due_at": (now_local + timedelta(days=1, hours=1)).isoformat()})  # fmt: skip
    assert late["overdue"] and not call["overdue"] and call["assignee_id"] == tenant.owner.id

    assert ids(api, "?overdue=true") == [late["id"]]
    assert ids(api, "?due_today=true") == [call["id"]]
    assert set(ids(api, "?mine=true")) == {call["id"], late["id"], tomorrow["id"]}
    assert ids(api, f"?record_type=lead&record_id={lead['id']}") == [call["id"]]

    stale = api.patch(f"/tasks/{call['id']}", {"done": True}, **{"If-Match": '"7"'})
    assert stale.status_code == 412
    done = api.patch(f"/tasks/{call['id']}", {"done": True}, **{"If-Match": '"1"'})
    assert done.status_code == 200 and done.json()["done"] and done.json()["version"] == 2
    assert ids(api, "?done=true") == [call["id"]]
    assert call["id"] not in ids(api, "?done=false")
    reopened = api.patch(f"/tasks/{call['id']}", {"done": False})
    assert reopened.json()["done"] is False and reopened.json()["done_at"] is None

    timeline = api.get(f"/leads/{lead['id']}/timeline").json()["items"]
    [item] = [i for i in timeline if i["type"] == "task"]
    assert (item["id"], item["title"], item["task_type"]) == (call["id"], "Call Ana", "call")

    assert api.request("DELETE", f"/tasks/{tomorrow['id']}").status_code == 204
    assert api.get(f"/tasks/{tomorrow['id']}").status_code == 404
    rows = admin_conn.run(
        "SELECT type FROM outbox WHERE envelope->>'subject' = :s ORDER BY created_at",
        s=f"tasks/{call['id']}",
    )
    assert [r[0] for r in rows] == ["crm.task.created", "crm.task.completed", "crm.task.reopened"]


def test_sellers_see_their_own_tasks_and_other_tenants_none(
    local_cloud: LocalCloudProcess,
) -> None:
    tenant = sign_up(local_cloud.url, "Sellers")
    owner = tenant.owner.api
    ann = add_member(local_cloud.url, local_cloud.mailpit_url, tenant, "seller")
    bob = add_member(local_cloud.url, local_cloud.mailpit_url, tenant, "seller")
    for_ann = create(owner, {"title": "For Ann", "assignee_id": ann.id})
    bobs = create(bob.api, {"title": "Bob's own"})
    assert bobs["assignee_id"] == bob.id

    assert ids(ann.api) == [for_ann["id"]]
    assert ann.api.get(f"/tasks/{bobs['id']}").status_code == 404
    assert ann.api.patch(f"/tasks/{bobs['id']}", {"done": True}).status_code == 404
    assert ann.api.request("DELETE", f"/tasks/{bobs['id']}").status_code == 404
    refused = ann.api.post("/tasks", {"title": "For Bob", "assignee_id": bob.id})
    assert refused.status_code == 422 and refused.json()["errors"][0]["loc"] == [
        "body", "assignee_id",
    ]  # fmt: skip
    assert set(ids(owner)) == {for_ann["id"], bobs["id"]}
    bad = owner.post("/tasks", {"title": "x", "type": "lunch"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["body", "type"]
    ghost = owner.post("/tasks", {"title": "x", "assignee_id": str(uuid.uuid4())})
    assert ghost.status_code == 422

    other = sign_up(local_cloud.url, "Elsewhere").owner.api
    assert other.get(f"/tasks/{for_ann['id']}").status_code == 404
    assert ids(other) == []
    foreign_lead = owner.post("/leads", {"name": "Mine"}).json()
    linked = other.post(
        "/tasks", {"title": "x", "record": {"type": "lead", "id": foreign_lead["id"]}}
    )
    assert linked.status_code == 404
