"""The automation webhook action signed like subscriptions, through the local cloud: the
receiver verifies each request with the `standardwebhooks` reference library and the secret
shown once at creation; a retried step carries the same webhook-id; a rotated secret signs the
next run and the old one no longer verifies; the answer's status, a bounded excerpt and the
mapped response fields are in the run detail."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from local.services import Endpoints
from tests.e2e.conftest import LocalCloudProcess
from tests.e2e.tenancy_support import add_member, sign_up
from tests.e2e.test_automation_actions import ledger_rows
from tests.e2e.test_automation_runs import create_lead, finished_runs

pytestmark = pytest.mark.e2e

ANSWER = {"id": "crm-42", "owner": {"email": "ops@example.com"}, "pad": "y" * 3000}


@dataclass
class Receiver:
    """Answers 500 to its first `fail_first` requests, then 200 with ANSWER as JSON."""

    url: str = ""
    fail_first: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    lock = threading.Lock()
    answer = json.dumps(ANSWER).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", 0)))
            with lock:
                failing = state.fail_first > 0
                state.fail_first -= 1 if failing else 0
                state.requests.append({"headers": dict(self.headers), "raw": raw})
            if failing:
                self.send_response(500)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_port}/crm"
    yield state
    server.shutdown()
    server.server_close()


def test_signed_verified_retried_with_one_id_rotated_and_answer_recorded(
    local_cloud: LocalCloudProcess, receiver: Receiver, endpoints: Endpoints
) -> None:
    tenant = sign_up(local_cloud.url, "Signed")
    api = tenant.owner.api
    workflow = {
        "trigger": {"event": "crm.lead.created"},
        "steps": [
            {
                "id": "notify",
                "type": "action",
                "action": {
                    "kind": "webhook",
                    "url": receiver.url,
                    "response_mapping": {"remote_id": "/id", "owner": "/owner/email"},
                },
            }
        ],
    }
    created = api.post(
        "/automations", {"name": "Signed hook", "workflow": workflow, "publish": True}
    )
    assert created.status_code == 201, created.text
    assert created.headers["Cache-Control"] == "no-store"
    automation_id, secret = created.json()["id"], created.json()["webhook_secret"]
    assert secret.startswith("whsec_")
    assert "webhook_secret" not in api.get(f"/automations/{automation_id}").json()

    # The receiver fails the first attempt: Step Functions retries the Task
    receiver.fail_first = 1
    create_lead(api, "Ana", "web")
    [run] = finished_runs(api, automation_id, 1)
    assert run["status"] == "succeeded", run
    first, retried = receiver.requests
    assert first["headers"]["webhook-id"] == retried["headers"]["webhook-id"]
    assert first["headers"]["webhook-id"] == f"{run['id']}:notify"
    for request in (first, retried):
        payload = Webhook(secret).verify(request["raw"], request["headers"])
        assert payload["automation_id"] == automation_id and payload["step_id"] == "notify"
    assert len(ledger_rows(endpoints, tenant.id, "webhook")) == 1  # one effect

    # The run detail shows the answer: status, a 1 KiB excerpt, the mapped fields
    [notify] = api.get(f"/automation-runs/{run['id']}").json()["steps"]
    result = notify["result"]
    assert result["status"] == 200 and result["webhook_id"] == f"{run['id']}:notify"
    assert result["response"]["status"] == 200 and result["response"]["body_truncated"] is True
    assert len(result["response"]["body_excerpt"].encode()) == 1024
    assert result["data"] == {"remote_id": "crm-42", "owner": "ops@example.com"}

    # Rotation: only the automation's editors, only in its tenant; the old secret stops
    viewer = add_member(local_cloud.url, local_cloud.mailpit_url, tenant, "viewer")
    path = f"/automations/{automation_id}/webhook-secret/rotate"
    assert viewer.api.post(path, None).status_code == 403
    assert sign_up(local_cloud.url, "Other").owner.api.post(path, None).status_code == 404
    rotated = api.post(path, None)
    assert rotated.status_code == 200, rotated.text
    assert rotated.headers["Cache-Control"] == "no-store"
    new_secret = rotated.json()["webhook_secret"]
    assert new_secret.startswith("whsec_") and new_secret != secret

    create_lead(api, "Bo", "web")
    runs = finished_runs(api, automation_id, 2)
    assert all(r["status"] == "succeeded" for r in runs), runs
    latest = receiver.requests[-1]
    assert len(receiver.requests) == 3
    Webhook(new_secret).verify(latest["raw"], latest["headers"])
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(latest["raw"], latest["headers"])
