"""In-app notifications through the local cloud: a task or lead assigned to a user notifies
that user once (the notification consumer, q.notification), pushed over the WebSocket to that
user only; read, read-all, muted kinds; the due-soon reminder fires once per task; nobody
reads or marks another user's notifications."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import LocalCloudProcess
from tests.e2e.tenancy_support import Api, Member, add_member, sign_up
from tests.e2e.test_realtime import WsClient

pytestmark = pytest.mark.e2e


def token_of(member: Member) -> str:
    return str(member.api.session.headers["Authorization"]).split()[1]


def notifications(api: Api, query: str = "") -> dict[str, Any]:
    response = api.get(f"/notifications{query}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_notifications(api: Api, predicate: Any, timeout: float = 30) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        found = [n for n in notifications(api)["items"] if predicate(n)]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def test_assignments_notify_their_user_once_over_rest_and_websocket(
    local_cloud: LocalCloudProcess,
) -> None:
    tenant = sign_up(local_cloud.url, "Notify")
    owner = tenant.owner.api
    ann = add_member(local_cloud.url, local_cloud.mailpit_url, tenant, "seller")
    bob = add_member(local_cloud.url, local_cloud.mailpit_url, tenant, "seller")
    ann_ws, bob_ws = (
        WsClient(local_cloud.url, token_of(ann)),
        WsClient(local_cloud.url, token_of(bob)),
    )
    try:
        task = owner.post("/tasks", {"title": "Call the bank", "assignee_id": ann.id}).json()
        pushed = ann_ws.wait_for(lambda m: m["type"] == "crm.notification.created")
        # ids only, like every pushed message: the client refetches GET /notifications
        assert pushed["data"]["user_id"] == ann.id and pushed["subject"].startswith("notif")
        [note] = wait_notifications(ann.api, lambda n: n["kind"] == "task_assigned")
        assert (note["title"], note["link"], note["read"]) == (
            "A task was assigned to you: Call the bank", f"tasks/{task['id']}", False,
        )  # fmt: skip
        assert pushed["data"]["id"] == note["id"]

        # A lead assigned to Bob after: Bob hears of it, and of nothing about Ann's task.
        lead = owner.post("/leads", {"name": "Zed"}).json()
        moved = owner.patch(f"/leads/{lead['id']}", {"owner_id": bob.id},
                            **{"If-Match": f'"{lead["version"]}"'})  # fmt: skip
        assert moved.status_code == 200, moved.text
        bobs = bob_ws.wait_for(lambda m: m["type"] == "crm.notification.created")
        assert bobs["data"]["user_id"] == bob.id
        assert [n["kind"] for n in notifications(bob.api)["items"]] == ["record_assigned"]
        assert notifications(ann.api)["unread_count"] == 1
        assert not [m for m in ann_ws.heard(1.0) if m["type"] == "crm.notification.created"]
    finally:
        ann_ws.close()
        bob_ws.close()

    # Read one, read all; another user (or tenant) can mark none of them.
    assert bob.api.post(f"/notifications/{note['id']}/read", {}).status_code == 404
    other = sign_up(local_cloud.url, "Others").owner.api
    assert other.post(f"/notifications/{note['id']}/read", {}).status_code == 404
    assert ann.api.post(f"/notifications/{note['id']}/read", {}).status_code == 204
    assert notifications(ann.api)["unread_count"] == 0
    assert notifications(ann.api, "?unread=true")["items"] == []
    read_all = bob.api.post("/notifications/read-all", {})
    assert read_all.status_code == 200 and read_all.json() == {"marked_read": 1}


def test_muted_kinds_are_not_produced_and_reminders_fire_once(
    local_cloud: LocalCloudProcess,
) -> None:
    tenant = sign_up(local_cloud.url, "Mute")
    owner = tenant.owner.api
    ann = add_member(local_cloud.url, local_cloud.mailpit_url, tenant, "seller")
    bad = ann.api.request("PUT", "/notifications/preferences", {"muted": ["gossip"]})
    assert bad.status_code == 422
    muted = ann.api.request("PUT", "/notifications/preferences", {"muted": ["task_assigned"]})
    assert muted.status_code == 200 and muted.json()["muted"] == ["task_assigned"]
    owner.post("/tasks", {"title": "Muted one", "assignee_id": ann.id})
    # A reminder for a task due in five minutes comes after the muted assignment was handled.
    due = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    soon = owner.post("/tasks", {"title": "Due soon", "assignee_id": ann.id, "due_at": due}).json()
    [reminder] = wait_notifications(ann.api, lambda n: n["kind"] == "task_due", timeout=60)
    assert reminder["link"] == f"tasks/{soon['id']}"
    # a sentinel reminder of a later task arrives after the schedule ran again and again
    later = owner.post("/tasks", {"title": "Sentinel", "assignee_id": ann.id, "due_at": due}).json()
    wait_notifications(ann.api, lambda n: n["link"] == f"tasks/{later['id']}", timeout=60)
    kinds = [n["kind"] for n in notifications(ann.api)["items"]]
    assert kinds.count("task_due") == 2 and "task_assigned" not in kinds
    preferences = ann.api.get("/notifications/preferences").json()
    assert {"kind": "task_assigned", "enabled": False} in preferences["kinds"]
    assert uuid.UUID(reminder["id"])
