"""The automation webhook action under the webhook subscriptions' target policy, through the
local cloud (which allows http and 127.0.0.1 for its receivers, and never link-local or
metadata addresses): refused at save with a 422 naming the field; a name re-pointed at the
metadata address after the save refused at send, the run detail saying only "target not
allowed"; a redirect not followed; credential headers only as secrets, sealed, sent, never
shown. Names are pointed at addresses through the cloud's webhook hosts file."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.e2e.conftest import LocalCloudProcess
from tests.e2e.tenancy_support import Api, sign_up
from tests.e2e.test_automation_runs import create_lead, finished_runs

pytestmark = pytest.mark.e2e

URL_LOC = ["body", "workflow", "steps", 0, "action", "action", "webhook", "url"]


@dataclass
class Receiver:
    """Answers 302 to /redirect (Location: /landed on itself), 204 to anything else."""

    base: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [r["path"] for r in self.requests]


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", 0)))
            state.requests.append({"path": self.path, "headers": dict(self.headers), "raw": raw})
            if self.path.startswith("/redirect"):
                self.send_response(302)
                self.send_header("Location", f"{state.base}/landed")
            else:
                self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.base = f"http://127.0.0.1:{server.server_port}"
    yield state
    server.shutdown()
    server.server_close()


def hook_workflow(url: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    action: dict[str, Any] = {"kind": "webhook", "url": url}
    if headers is not None:
        action["headers"] = headers
    return {
        "trigger": {"event": "crm.lead.created"},
        "steps": [{"id": "notify", "type": "action", "action": action}],
    }


def post_automation(api: Api, url: str, headers: dict[str, Any] | None = None) -> Any:
    return api.post(
        "/automations", {"name": "Hook", "workflow": hook_workflow(url, headers), "publish": True}
    )


def field_errors(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    return {".".join(map(str, e["loc"])): e["msg"] for e in response.json()["errors"]}


def unique_name() -> str:
    return f"hook-{uuid.uuid4().hex[:10]}.test"


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.170.2/v2/credentials",
        "http://[fe80::1]/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://2852039166/latest/meta-data/",
        "http://0xa9.0xfe.0xa9.0xfe/",
        "http://0251.0376.0251.0376/",
        "http://1.2.3.4.5/",
    ],
)
def test_forbidden_targets_are_refused_at_save_naming_the_field(
    local_cloud: LocalCloudProcess, url: str
) -> None:
    api = sign_up(local_cloud.url, "Guard").owner.api
    errors = field_errors(post_automation(api, url))
    assert list(errors) == [".".join(map(str, URL_LOC))], errors
    assert "169.254" not in errors[".".join(map(str, URL_LOC))]


def test_a_name_resolving_to_the_metadata_address_is_refused_at_save(
    local_cloud: LocalCloudProcess,
) -> None:
    api = sign_up(local_cloud.url, "Guard").owner.api
    name = unique_name()
    local_cloud.point_host(name, "169.254.169.254")
    errors = field_errors(post_automation(api, f"https://{name}/x"))
    assert list(errors) == [".".join(map(str, URL_LOC))]
    assert "169.254" not in json.dumps(errors)


def test_a_name_rebound_to_the_metadata_address_after_save_is_refused_at_send(
    local_cloud: LocalCloudProcess, receiver: Receiver
) -> None:
    api = sign_up(local_cloud.url, "Rebind").owner.api
    name = unique_name()
    port = receiver.base.rsplit(":", 1)[1]
    local_cloud.point_host(name, "127.0.0.1")  # the local cloud's receivers are allowed
    created = post_automation(api, f"http://{name}:{port}/in")
    assert created.status_code == 201, created.text
    automation_id = created.json()["id"]

    # While the name points at the receiver, the webhook arrives
    create_lead(api, "First", "web")
    [first] = finished_runs(api, automation_id, 1)
    assert first["status"] == "succeeded", first
    assert receiver.paths() == ["/in"]

    # Re-pointed at the metadata service after the save: refused at send
    local_cloud.point_host(name, "169.254.169.254")
    create_lead(api, "Second", "web")
    runs = finished_runs(api, automation_id, 2)
    failed = next(run for run in runs if run["id"] != first["id"])
    assert failed["status"] == "failed"
    detail = api.get(f"/automation-runs/{failed['id']}")
    assert detail.status_code == 200, detail.text
    [notify] = detail.json()["steps"]
    assert notify["state"] == "failed" and notify["result"] is None
    assert notify["error"]["error"] == "WebhookTargetNotAllowed"
    assert notify["error"]["message"] == "target not allowed"
    assert "169.254" not in detail.text and "refused" not in detail.text.lower()
    assert receiver.paths() == ["/in"]  # the run has ended: nothing else was sent


def test_a_redirect_is_not_followed(local_cloud: LocalCloudProcess, receiver: Receiver) -> None:
    api = sign_up(local_cloud.url, "Redirect").owner.api
    created = post_automation(api, f"{receiver.base}/redirect")
    assert created.status_code == 201, created.text
    automation_id = created.json()["id"]

    create_lead(api, "Lead", "web")
    [run] = finished_runs(api, automation_id, 1)

    assert run["status"] == "failed"
    [notify] = api.get(f"/automation-runs/{run['id']}").json()["steps"]
    assert notify["error"]["error"] == "WebhookDeliveryFailed"
    assert notify["error"]["message"] == "answered HTTP 302"
    # Every retry asked /redirect; the run has ended and /landed was never asked.
    assert set(receiver.paths()) == {"/redirect"} and len(receiver.paths()) >= 2


def test_credential_headers_are_secrets_sealed_sent_and_never_shown(
    local_cloud: LocalCloudProcess, receiver: Receiver, admin_conn: Any
) -> None:
    api = sign_up(local_cloud.url, "Secrets").owner.api
    url = f"{receiver.base}/in"
    plain = field_errors(post_automation(api, url, {"Authorization": "Bearer visible"}))
    assert list(plain) == ["body.workflow.steps.0.action.action.webhook.headers.Authorization"]
    hop = field_errors(post_automation(api, url, {"Host": "internal", "Connection": "close"}))
    assert len(hop) == 2

    token = f"tok-{uuid.uuid4().hex}"
    headers = {"X-Api-Key": {"value": token, "secret": True}, "X-Tenant": "acme"}
    created = post_automation(api, url, headers)
    assert created.status_code == 201, created.text
    automation_id = created.json()["id"]
    shown = {"X-Api-Key": {"secret": True}, "X-Tenant": "acme"}
    assert created.json()["workflow"]["steps"][0]["action"]["headers"] == shown
    read = api.get(f"/automations/{automation_id}")
    assert read.json()["workflow"]["steps"][0]["action"]["headers"] == shown
    [[stored]] = admin_conn.run(
        "SELECT definition::text FROM automation_versions WHERE automation_id = CAST(:a AS uuid)",
        a=automation_id,
    )
    assert token not in stored and "sealed" in stored

    lead_id = create_lead(api, "Lead", "web")
    [run] = finished_runs(api, automation_id, 1)
    assert run["status"] == "succeeded", run
    [request] = receiver.requests
    assert request["headers"]["X-Api-Key"] == token and request["headers"]["X-Tenant"] == "acme"
    assert token not in api.get(f"/automation-runs/{run['id']}").text
    simulated = api.post(
        f"/automations/{automation_id}/simulate", {"record": {"kind": "lead", "id": lead_id}}
    )
    assert simulated.status_code == 200, simulated.text
    assert token not in simulated.text and '"secret": true' in json.dumps(simulated.json())
    assert token not in local_cloud.log_path.read_text(errors="replace")
