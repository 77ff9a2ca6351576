"""Runs you can inspect, end to end through the local cloud: leads -> outbox -> RabbitMQ ->
router -> Step Functions (embedded moto, real execution) -> automation_step -> webhook, then
GET /automations/{id}/runs and GET /automation-runs/{id} read the runs back step by step."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.e2e.conftest import LocalCloudProcess, WebhookReceiver
from tests.e2e.tenancy_support import Api, Tenant, add_member, problem_type, sign_up

pytestmark = pytest.mark.e2e


def web_only_workflow(url: str) -> dict[str, Any]:
    """On crm.lead.created: if lead.source == web, POST a webhook; else nothing."""
    return {
        "trigger": {"event": "crm.lead.created"},
        "steps": [
            {
                "id": "is_web",
                "type": "condition",
                "when": {"all": [{"field": "lead.source", "op": "eq", "value": "web"}]},
                "then": [
                    {"id": "notify", "type": "action", "action": {"kind": "webhook", "url": url}}
                ],
            }
        ],
    }


@pytest.fixture()
def failing_receiver() -> Iterator[str]:
    """A webhook target that answers 500 to every POST; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(500)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hooks/broken"
    server.shutdown()
    server.server_close()


def eventually(read: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.5)
        value = read()
    return value


def create_automation(api: Api, name: str, url: str) -> str:
    created = api.post(
        "/automations", {"name": name, "workflow": web_only_workflow(url), "publish": True}
    )
    assert created.status_code == 201, created.text
    automation_id: str = created.json()["id"]
    return automation_id


def create_lead(api: Api, name: str, source: str) -> str:
    created = api.post("/leads", {"name": name, "source": source})
    assert created.status_code == 201, created.text
    lead_id: str = created.json()["id"]
    return lead_id


def finished_runs(api: Api, automation_id: str, count: int) -> list[dict[str, Any]]:
    def read() -> list[dict[str, Any]]:
        answer = api.get(f"/automations/{automation_id}/runs")
        assert answer.status_code == 200, answer.text
        items: list[dict[str, Any]] = answer.json()["items"]
        return items

    runs: list[dict[str, Any]] = eventually(
        read, lambda items: len(items) == count and all(r["status"] != "running" for r in items)
    )
    assert len(runs) == count, runs
    return runs


def test_runs_are_listed_and_inspected_step_by_step(
    local_cloud: LocalCloudProcess, webhook_receiver: WebhookReceiver
) -> None:
    # Given "on lead.created: if the lead is from the web, POST a webhook, else nothing"
    tenant = sign_up(local_cloud.url, "Runs")
    api = tenant.owner.api
    automation_id = create_automation(api, "Web leads to the hook", webhook_receiver.url)

    # When a web lead and a referral lead are created
    web_lead = create_lead(api, "Web Lead", "web")
    other_lead = create_lead(api, "Referral Lead", "referral")

    # Then both runs are listed, newest first, finished
    runs = finished_runs(api, automation_id, 2)
    assert [run["event"]["subject"] for run in runs] == [f"leads/{other_lead}", f"leads/{web_lead}"]
    for run in runs:
        assert run["automation_id"] == automation_id
        assert run["version"] == 1
        assert run["status"] == "succeeded"
        assert run["event"]["type"] == "crm.lead.created"
        assert run["finished_at"] is not None and run["started_at"] <= run["finished_at"]
    assert len(webhook_receiver.wait_for(1)) == 1
    other_run, web_run = runs

    # And the web lead's run shows the condition true and the webhook sent with its status
    detail = api.get(f"/automation-runs/{web_run['id']}")
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["id"] == web_run["id"] and body["status"] == "succeeded"
    assert body["automation_name"] == "Web leads to the hook"
    assert body["event"]["envelope"]["data"]["lead"]["id"] == web_lead
    assert body["event"]["envelope"]["id"] == web_run["event"]["id"]
    condition, notify = body["steps"]
    assert (condition["id"], condition["state"], condition["outcome"]) == (
        "is_web",
        "succeeded",
        True,
    )
    assert condition["entered_at"] and condition["exited_at"]
    assert notify["id"] == "notify" and notify["state"] == "succeeded"
    assert notify["branch"] == {"condition": "is_web", "branch": "then"}
    assert notify["result"]["status"] == 204 and notify["result"]["kind"] == "webhook"
    assert notify["attempts"] == 1 and notify["error"] is None
    assert body["error"] is None

    # And the referral lead's run shows the condition false and the action skipped
    body = api.get(f"/automation-runs/{other_run['id']}").json()
    condition, notify = body["steps"]
    assert (condition["state"], condition["outcome"]) == ("succeeded", False)
    assert notify["state"] == "skipped"
    assert notify["entered_at"] is None and notify["result"] is None

    # And the list pages with a cursor and filters by status and creation time
    first = api.get(f"/automations/{automation_id}/runs?limit=1").json()
    assert [run["id"] for run in first["items"]] == [other_run["id"]]
    assert first["next_cursor"]
    second = api.get(
        f"/automations/{automation_id}/runs?limit=1&cursor={first['next_cursor']}"
    ).json()
    assert [run["id"] for run in second["items"]] == [web_run["id"]]
    assert second["next_cursor"] is None
    succeeded = api.get(f"/automations/{automation_id}/runs?status=succeeded,failed").json()
    assert len(succeeded["items"]) == 2
    assert api.get(f"/automations/{automation_id}/runs?status=failed").json()["items"] == []
    # (a range that ends before the runs existed holds none)
    early = api.session.get(
        f"{api.base_url}/automations/{automation_id}/runs",
        params={"created_before": "2020-01-01T00:00:00+00:00"},
        timeout=30,
    )
    assert early.status_code == 200 and early.json()["items"] == []
    since = api.session.get(
        f"{api.base_url}/automations/{automation_id}/runs",
        params={"created_after": web_run["started_at"]},
        timeout=30,
    )
    assert {run["id"] for run in since.json()["items"]} == {web_run["id"], other_run["id"]}

    # And bad filters and cursors are 422 problems
    for query in ("status=done", "cursor=not-a-cursor", "limit=0"):
        bad = api.get(f"/automations/{automation_id}/runs?{query}")
        assert bad.status_code == 422, (query, bad.text)
        assert bad.headers["content-type"] == "application/problem+json"
    empty_range = api.session.get(
        f"{api.base_url}/automations/{automation_id}/runs",
        params={"created_after": "2026-01-02T00:00:00Z", "created_before": "2026-01-01T00:00:00Z"},
        timeout=30,
    )
    assert empty_range.status_code == 422

    # And a viewer may read runs (automations:read)
    viewer = add_member(local_cloud.url, local_cloud.mailpit_url, tenant, "viewer")
    assert viewer.api.get(f"/automations/{automation_id}/runs").status_code == 200
    assert viewer.api.get(f"/automation-runs/{web_run['id']}").json()["status"] == "succeeded"


def test_a_run_whose_webhook_answers_500_shows_the_failed_step_and_its_error(
    local_cloud: LocalCloudProcess, failing_receiver: str
) -> None:
    tenant = sign_up(local_cloud.url, "Broken")
    api = tenant.owner.api
    automation_id = create_automation(api, "Broken hook", failing_receiver)

    create_lead(api, "Web Lead", "web")

    # The action is retried (2 + 4 + 8 s) before the run fails
    [run] = finished_runs(api, automation_id, 1)
    assert run["status"] == "failed"
    assert api.get(f"/automations/{automation_id}/runs?status=failed").json()["items"] == [run]
    body = api.get(f"/automation-runs/{run['id']}").json()
    assert body["status"] == "failed"
    assert body["error"]["error"] == "StepFailed"
    condition, notify = body["steps"]
    assert condition["outcome"] is True
    assert notify["state"] == "failed"
    assert notify["result"] is None  # a failed effect leaves no ledger row
    assert notify["attempts"] >= 2
    assert notify["error"]["error"] == "WebhookDeliveryFailed"
    assert "500" in notify["error"]["message"]


def test_another_tenants_and_malformed_ids_are_404(
    local_cloud: LocalCloudProcess, webhook_receiver: WebhookReceiver
) -> None:
    owner = sign_up(local_cloud.url, "Owner")
    stranger: Tenant = sign_up(local_cloud.url, "Stranger")
    automation_id = create_automation(owner.owner.api, "Mine", webhook_receiver.url)
    create_lead(owner.owner.api, "Web Lead", "web")
    [run] = finished_runs(owner.owner.api, automation_id, 1)

    for path in (
        f"/automations/{automation_id}/runs",
        f"/automation-runs/{run['id']}",
        "/automations/not-a-uuid/runs",
        "/automation-runs/not-a-uuid",
        f"/automations/{uuid.uuid4()}/runs",
        f"/automation-runs/{uuid.uuid4()}",
    ):
        answer = stranger.owner.api.get(path)
        assert answer.status_code == 404, (path, answer.text)
        assert problem_type(answer) is not None
    assert owner.owner.api.get("/automation-runs/12345").status_code == 404
