"""Automations you can author, evolve and operate, end to end through the local cloud: drafts
that never fire, numbered versions (a run finishes on the version it started on), pause and
resume, archive with cancel, retry from the failed step, validation (422 naming the field) and
another tenant's ids (404)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from crm.adapters.postgres.connection import connect

from local.services import Endpoints
from tests.e2e.conftest import LocalCloudProcess, WebhookReceiver
from tests.e2e.tenancy_support import Api, change_plan, problem_type, sign_up

pytestmark = pytest.mark.e2e


def eventually(read: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.3)
        value = read()
    assert done(value), value
    return value


def hook(step_id: str, url: str) -> dict[str, Any]:
    return {"id": step_id, "type": "action", "action": {"kind": "webhook", "url": url}}


def on_lead_created(*steps: dict[str, Any]) -> dict[str, Any]:
    return {"trigger": {"event": "crm.lead.created"}, "steps": list(steps)}


def hits(receiver: WebhookReceiver, suffix: str) -> int:
    return sum(1 for request in receiver.requests if request["path"].endswith(suffix))


def runs(api: Api, automation_id: str) -> list[dict[str, Any]]:
    answer = api.get(f"/automations/{automation_id}/runs")
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def call(api: Api, method: str, path: str, body: Any = None, **headers: str) -> requests.Response:
    return api.request(method, path, body, **headers)


def test_drafts_versions_pause_resume_and_archive_with_cancel(
    local_cloud: LocalCloudProcess, webhook_receiver: WebhookReceiver
) -> None:
    tenant = sign_up(local_cloud.url, "Lifecycle")
    change_plan(tenant, "pro")
    api = tenant.owner.api
    url = webhook_receiver.url
    # A sentinel: live on every crm.lead.created, routed in the same transaction as the others
    sentinel = api.post(
        "/automations",
        {"name": "Sentinel", "workflow": on_lead_created(hook("s", url + "/s")), "publish": True},
    )
    assert sentinel.status_code == 201, sentinel.text

    def lead(name: str) -> str:
        created = api.post("/leads", {"name": name, "source": "web"})
        assert created.status_code == 201, created.text
        lead_id: str = created.json()["id"]
        return lead_id

    def sentinel_saw(count: int) -> None:
        eventually(lambda: hits(webhook_receiver, "/s"), lambda n: n >= count)

    # Given a draft: delay 4 s, then a webhook
    v1 = on_lead_created({"id": "wait", "type": "delay", "seconds": 4}, hook("one", url + "/v1"))
    created = api.post("/automations", {"name": "Nurture", "workflow": v1})
    assert created.status_code == 201, created.text
    draft = created.json()
    automation_id = draft["id"]
    assert (draft["status"], draft["version"]) == ("draft", None)
    assert created.headers["ETag"] == f'"{draft["revision"]}"'

    # A draft never fires
    lead("Before publish")
    sentinel_saw(1)
    assert runs(api, automation_id) == []

    # Publish (with the ETag read) makes version 1 live
    published = api.post(
        f"/automations/{automation_id}/publish", None, **{"If-Match": created.headers["ETag"]}
    )
    assert published.status_code == 200, published.text
    assert (published.json()["status"], published.json()["version"]) == ("active", 1)
    stale = call(api, "PATCH", f"/automations/{automation_id}", {"name": "x"},
                 **{"If-Match": created.headers["ETag"]})  # fmt: skip
    assert stale.status_code == 412 and problem_type(stale) is not None

    # A v1 run waits in its delay while v2 is edited and published
    early = lead("Early")
    eventually(lambda: runs(api, automation_id), lambda items: len(items) == 1)
    v2 = on_lead_created(hook("two", url + "/v2"))
    edited = call(api, "PATCH", f"/automations/{automation_id}", {"workflow": v2},
                  **{"If-Match": published.headers["ETag"]})  # fmt: skip
    assert edited.status_code == 200, edited.text
    assert edited.json()["version"] == 1 and edited.json()["draft_differs"] is True
    second = api.post(f"/automations/{automation_id}/publish", None)
    assert second.status_code == 200 and second.json()["version"] == 2, second.text
    late = lead("Late")

    # The early run finishes on v1, the late one runs v2
    eventually(lambda: (hits(webhook_receiver, "/v1"), hits(webhook_receiver, "/v2")),
               lambda seen: seen == (1, 1))  # fmt: skip
    finished = eventually(
        lambda: runs(api, automation_id),
        lambda items: len(items) == 2 and all(run["status"] == "succeeded" for run in items),
    )
    by_subject = {run["event"]["subject"]: run["version"] for run in finished}
    assert by_subject == {f"leads/{early}": 1, f"leads/{late}": 2}
    versions = api.get(f"/automations/{automation_id}/versions").json()["items"]
    assert [v["version"] for v in versions] == [2, 1]
    one = api.get(f"/automations/{automation_id}/versions/1").json()
    assert one["workflow"]["steps"][0]["id"] == "wait" and one["asl"]["StartAt"] == "Delay_wait"
    assert one["published_by"] == tenant.owner.id and one["published_at"]

    # Pause: an event starts nothing (the sentinel proves the event was routed); resume
    paused = api.post(f"/automations/{automation_id}/pause", None)
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    assert api.post(f"/automations/{automation_id}/pause", None).status_code == 409
    lead("While paused")
    sentinel_saw(4)
    assert len(runs(api, automation_id)) == 2
    assert api.post(f"/automations/{automation_id}/resume", None).json()["status"] == "active"
    lead("After resume")
    eventually(lambda: hits(webhook_receiver, "/v2"), lambda n: n == 2)

    # The list filters by status, trigger kind and name
    listed = api.get("/automations?status=active&trigger=event&q=nurt").json()["items"]
    assert [item["id"] for item in listed] == [automation_id]
    assert api.get("/automations?status=nope").status_code == 422

    # Archive with cancel stops a run waiting in a delay
    v3 = on_lead_created({"id": "long", "type": "delay", "seconds": 60}, hook("three", url + "/v3"))
    assert call(api, "PATCH", f"/automations/{automation_id}", {"workflow": v3}).status_code == 200
    assert api.post(f"/automations/{automation_id}/publish", None).json()["version"] == 3
    waiting = lead("Waiting")
    eventually(
        lambda: [
            r for r in runs(api, automation_id) if r["event"]["subject"] == f"leads/{waiting}"
        ],
        lambda items: len(items) == 1,
    )
    archived = call(api, "DELETE", f"/automations/{automation_id}?cancel_runs=true")
    assert archived.status_code == 200, archived.text
    assert archived.json()["status"] == "archived" and archived.json()["cancelled_runs"] == 1
    [cancelled] = [
        r for r in runs(api, automation_id) if r["event"]["subject"] == f"leads/{waiting}"
    ]
    assert cancelled["status"] == "cancelled"
    assert api.get(f"/automation-runs/{cancelled['id']}").json()["status"] == "cancelled"
    assert api.get(f"/automations/{automation_id}").json()["status"] == "archived"
    lead("After archive")
    sentinel_saw(7)
    assert len(runs(api, automation_id)) == 4
    assert hits(webhook_receiver, "/v3") == 0

    # The logs list the runs with their step lines
    logs = api.get(f"/automations/{automation_id}/logs?limit=5")
    assert logs.status_code == 200, logs.text
    lines = {item["event"]["subject"]: item["log"] for item in logs.json()["items"]}
    assert [line["step"] for line in lines[f"leads/{late}"]] == ["two"]


@dataclass
class FlakyReceiver:
    url: str
    failing: bool = True
    hits: list[str] = field(default_factory=list)


@pytest.fixture()
def flaky_receiver() -> Iterator[FlakyReceiver]:
    """Answers 500 while `failing` is set, then 204; records every POST's path."""
    state = FlakyReceiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            state.hits.append(self.path)
            self.send_response(500 if state.failing else 204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_port}/flaky"
    yield state
    server.shutdown()
    server.server_close()


def test_retry_continues_from_the_failed_step_and_repeats_no_earlier_action(
    local_cloud: LocalCloudProcess,
    webhook_receiver: WebhookReceiver,
    flaky_receiver: FlakyReceiver,
    endpoints: Endpoints,
) -> None:
    tenant = sign_up(local_cloud.url, "Retry")
    api = tenant.owner.api
    workflow = on_lead_created(
        hook("first", webhook_receiver.url + "/first"),
        hook("flaky", flaky_receiver.url),
        hook("last", webhook_receiver.url + "/last"),
    )
    created = api.post("/automations", {"name": "Retry me", "workflow": workflow, "publish": True})
    assert created.status_code == 201, created.text
    automation_id = created.json()["id"]
    api.post("/leads", {"name": "Flaky"})

    # The flaky step is retried (2 + 4 + 8 s) before the run fails
    [run] = eventually(
        lambda: runs(api, automation_id),
        lambda items: len(items) == 1 and items[0]["status"] == "failed",
    )
    attempts = len(flaky_receiver.hits)
    assert attempts >= 2 and hits(webhook_receiver, "/first") == 1
    assert api.post(f"/automation-runs/{run['id']}/cancel", None).status_code == 409

    # When the receiver is back and the run is retried
    flaky_receiver.failing = False
    retried = api.post(f"/automation-runs/{run['id']}/retry", None)
    assert retried.status_code == 202, retried.text
    assert retried.json()["attempt"] == 2

    # Then it succeeds, the flaky step ran once more and "first" did not run again
    done = eventually(
        lambda: api.get(f"/automation-runs/{run['id']}").json(),
        lambda body: body["status"] == "succeeded",
    )
    assert done["attempt"] == 2
    assert len(flaky_receiver.hits) == attempts + 1
    assert (hits(webhook_receiver, "/first"), hits(webhook_receiver, "/last")) == (1, 1)
    conn = connect(endpoints.admin_database_url)
    try:
        ledger = conn.run(
            "SELECT step_id FROM action_executions WHERE run_id = CAST(:id AS uuid)"
            " ORDER BY step_id",
            id=run["id"],
        )
        events = conn.run(
            "SELECT type, envelope->'data'->>'attempt' FROM outbox"
            " WHERE envelope->'data'->>'run_id' = :id ORDER BY created_at",
            id=run["id"],
        )
    finally:
        conn.close()
    assert [row[0] for row in ledger] == ["first", "flaky", "last"]
    # the run's lifecycle went through the outbox: started, failed, started again, succeeded
    assert [(kind, int(attempt)) for kind, attempt in events] == [
        ("crm.automation.run_started", 1),
        ("crm.automation.run_failed", 1),
        ("crm.automation.run_started", 2),
        ("crm.automation.run_succeeded", 2),
    ]
    assert api.post(f"/automation-runs/{run['id']}/retry", None).status_code == 409


def test_unknown_trigger_field_or_tag_is_422_and_another_tenants_ids_are_404(
    local_cloud: LocalCloudProcess, webhook_receiver: WebhookReceiver
) -> None:
    owner = sign_up(local_cloud.url, "Validating")
    stranger = sign_up(local_cloud.url, "Stranger")
    api = owner.owner.api

    def problem_locs(workflow: dict[str, Any]) -> list[list[Any]]:
        answer = api.post("/automations", {"name": "Bad", "workflow": workflow})
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        return [error["loc"] for error in answer.json()["errors"]]

    assert problem_locs({"trigger": {"event": "crm.lead.teleported"}, "steps": [hook("a", webhook_receiver.url)]}) == [
        ["body", "workflow", "trigger", "event"]
    ]  # fmt: skip
    condition = {
        "id": "c",
        "type": "condition",
        "when": {"all": [{"field": "lead.colour", "op": "eq", "value": "red"}]},
        "then": [hook("a", webhook_receiver.url)],
    }
    assert problem_locs(on_lead_created(condition)) == [
        ["body", "workflow", "steps", 0, "when", "all", 0, "field"]
    ]
    tag = {"id": "t", "type": "action", "action": {"kind": "add_tag", "tag": "ghost"}}
    assert problem_locs(on_lead_created(tag)) == [["body", "workflow", "steps", 0, "action", "tag"]]
    unknown_kind = api.post(
        "/automations",
        {"name": "Bad", "workflow": {"trigger": {"kind": "telepathy"}, "steps": [tag]}},
    )
    assert unknown_kind.status_code == 422

    # GET /triggers lists every kind with its JSON Schema and an example
    triggers = api.get("/triggers").json()["items"]
    kinds = {item["kind"]: item for item in triggers}
    assert {"event", "field_changed", "deal_stage_changed", "tag_added", "owner_assigned"} <= set(
        kinds
    )
    assert kinds["field_changed"]["event"] == "crm.lead.updated"
    assert kinds["field_changed"]["parameters"]["properties"]["kind"]["const"] == "field_changed"

    # Another tenant's automation, version and run are 404
    created = api.post(
        "/automations",
        {
            "name": "Mine",
            "workflow": on_lead_created(hook("a", webhook_receiver.url)),
            "publish": True,
        },
    )
    automation_id = created.json()["id"]
    api.post("/leads", {"name": "Someone"})
    [run] = eventually(lambda: runs(api, automation_id), lambda items: len(items) == 1)
    theirs = stranger.owner.api
    for method, path in (
        ("GET", f"/automations/{automation_id}"),
        ("PATCH", f"/automations/{automation_id}"),
        ("DELETE", f"/automations/{automation_id}"),
        ("POST", f"/automations/{automation_id}/publish"),
        ("POST", f"/automations/{automation_id}/pause"),
        ("GET", f"/automations/{automation_id}/versions"),
        ("GET", f"/automations/{automation_id}/versions/1"),
        ("POST", f"/automations/{automation_id}/versions/1/restore"),
        ("GET", f"/automations/{automation_id}/logs"),
        ("POST", f"/automation-runs/{run['id']}/retry"),
        ("POST", f"/automation-runs/{run['id']}/cancel"),
        ("GET", f"/automations/{uuid.uuid4()}/versions/1"),
    ):
        body = {"name": "x"} if method == "PATCH" else None
        answer = call(theirs, method, path, body)
        assert answer.status_code == 404, (method, path, answer.text)
    assert theirs.get("/automations").json()["items"] == []
    assert api.get(f"/automations/{automation_id}/versions/99").status_code == 404


def test_trigger_kinds_fire_once_per_qualifying_event(
    local_cloud: LocalCloudProcess, webhook_receiver: WebhookReceiver
) -> None:
    tenant = sign_up(local_cloud.url, "Triggers")
    change_plan(tenant, "pro")
    api = tenant.owner.api
    url = webhook_receiver.url
    assert api.post("/tags", {"name": "vip"}).status_code == 201
    stages = api.get("/pipelines").json()["items"][0]["stages"]
    target = stages[1]["id"]

    def automation(name: str, trigger: dict[str, Any], path: str) -> str:
        body = {"name": name, "workflow": {"trigger": trigger, "steps": [hook("h", url + path)]},
                "publish": True}  # fmt: skip
        created = api.post("/automations", body)
        assert created.status_code == 201, created.text
        automation_id: str = created.json()["id"]
        return automation_id

    scored = automation(
        "Hot", {"kind": "field_changed", "record": "lead", "field": "score", "to": 90}, "/score"
    )
    tagged = automation("VIP", {"kind": "tag_added", "record": "lead", "tag": "vip"}, "/vip")
    moved = automation("Moved", {"kind": "deal_stage_changed", "to_stage_id": target}, "/stage")
    sentinel = automation("Sentinel", {"kind": "record_event", "record": "contact",
                                       "action": "created"}, "/sentinel")  # fmt: skip

    lead = api.post("/leads", {"name": "Triggered"}).json()
    for changes in ({"score": 50}, {"score": 90}, {"tags": ["vip"]}, {"name": "Renamed"}):
        patched = call(api, "PATCH", f"/leads/{lead['id']}", changes)
        assert patched.status_code == 200, patched.text
    deal = api.post("/deals", {"title": "Moving"}).json()
    assert call(api, "PATCH", f"/deals/{deal['id']}", {"title": "Other"}).status_code == 200
    assert call(api, "PATCH", f"/deals/{deal['id']}", {"stage_id": target}).status_code == 200
    # Every event above has been routed once the sentinel's event (created last) has run
    assert api.post("/contacts", {"name": "Last"}).status_code == 201
    eventually(lambda: hits(webhook_receiver, "/sentinel"), lambda n: n == 1)
    eventually(
        lambda: [hits(webhook_receiver, path) for path in ("/score", "/vip", "/stage")],
        lambda seen: seen == [1, 1, 1],
    )
    for automation_id in (scored, tagged, moved, sentinel):
        assert len(runs(api, automation_id)) == 1


def test_manual_enrolment_through_the_api(
    local_cloud: LocalCloudProcess, webhook_receiver: WebhookReceiver
) -> None:
    tenant = sign_up(local_cloud.url, "Enrol")
    stranger = sign_up(local_cloud.url, "Outsider")
    api = tenant.owner.api
    # an automation of lead.status_changed: creating the lead does not start it
    workflow = {"trigger": {"kind": "lead_status_changed", "to": "qualified"},
                "steps": [hook("h", webhook_receiver.url + "/enrolled")]}  # fmt: skip
    created = api.post("/automations", {"name": "Enrol", "workflow": workflow, "publish": True})
    assert created.status_code == 201, created.text
    automation_id = created.json()["id"]
    lead_id = api.post("/leads", {"name": "Picked by hand"}).json()["id"]

    enrolled = api.post(f"/automations/{automation_id}/enrol", {"record_ids": [lead_id]})
    assert enrolled.status_code == 200, enrolled.text
    assert enrolled.json()["started"] == 1
    eventually(lambda: hits(webhook_receiver, "/enrolled"), lambda n: n == 1)
    again = api.post(f"/automations/{automation_id}/enrol", {"record_ids": [lead_id]}).json()
    assert again["records"][0]["status"] == "already_enrolled"
    assert api.post(f"/automations/{automation_id}/enrol", {"record_ids": []}).status_code == 422
    theirs = stranger.owner.api.post(
        f"/automations/{automation_id}/enrol", {"record_ids": [lead_id]}
    )
    assert theirs.status_code == 404
