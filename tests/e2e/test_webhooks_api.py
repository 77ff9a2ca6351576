"""Webhook subscriptions through the local cloud: the /webhooks API, and the webhook worker
consuming q.webhook on the test broker and POSTing signed events to a receiver on 127.0.0.1
(the local cloud allows http and private addresses; the AWS rules are unit-tested)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pika
import pytest

from local.services import Endpoints
from tests.e2e.conftest import LocalCloudProcess
from tests.e2e.tenancy_support import Api, Tenant, add_member, sign_up

pytestmark = pytest.mark.e2e

PROBLEM = "application/problem+json"


@dataclass
class Receiver:
    """An HTTP receiver that answers 500 to its first `fail_first` requests, then 204."""

    url: str
    fail_first: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)

    def path(self, name: str) -> str:
        return f"{self.url}/{name}"

    def at(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == f"/{name}"]

    def wait_for(self, name: str, count: int, timeout: float = 60) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.at(name)) < count:
            time.sleep(0.05)
        return self.at(name)


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", 0)))
            with lock:
                failing = state.fail_first > 0
                state.fail_first -= 1 if failing else 0
                state.requests.append({"path": self.path, "headers": dict(self.headers),
                                       "raw": raw, "at": time.time(),
                                       "answered": 500 if failing else 204})  # fmt: skip
            self.send_response(500 if failing else 204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_port}"
    yield state
    server.shutdown()
    server.server_close()


def verify(secret: str, request: dict[str, Any]) -> bool:
    """A receiver's check, written from the Standard Webhooks spec (not the product's code)."""
    headers = {k.lower(): v for k, v in request["headers"].items()}
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + request["raw"]
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(f"v1,{expected}", candidate)
        for candidate in headers["webhook-signature"].split()
    )


def create(api: Api, url: str, event_types: list[str], **extra: Any) -> dict[str, Any]:
    response = api.post("/webhooks", {"url": url, "event_types": event_types, **extra})
    assert response.status_code == 201, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


def new_lead(api: Api, name: str) -> dict[str, Any]:
    response = api.post("/leads", {"name": name})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def deliveries(api: Api, endpoint_id: str, query: str = "") -> list[dict[str, Any]]:
    response = api.get(f"/webhooks/{endpoint_id}/deliveries{query}")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def wait_deliveries(
    api: Api, endpoint_id: str, status: str, count: int, timeout: float = 30
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        items = deliveries(api, endpoint_id, f"?status={status}")
        if len(items) >= count or time.monotonic() > deadline:
            return items
        time.sleep(0.2)


def test_a_subscribed_event_arrives_once_signed_and_nothing_else_does(
    local_cloud: LocalCloudProcess, receiver: Receiver, endpoints: Endpoints, admin_conn: Any
) -> None:
    tenant = sign_up(local_cloud.url, "Hooks")
    api = tenant.owner.api
    endpoint = create(api, receiver.path("leads"), ["crm.lead.created"], description="sync")
    create(api, receiver.path("off"), ["crm.lead.created"], active=False)
    create(api, receiver.path("deals"), ["crm.deal.*"])
    secret = endpoint["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32

    lead = new_lead(api, "Ada Lovelace")
    [request] = receiver.wait_for("leads", 1)
    assert verify(secret, request)
    event = json.loads(request["raw"])
    assert event["type"] == "crm.lead.created" and event["tenantid"] == tenant.id
    assert event["data"]["lead"]["id"] == lead["id"]
    assert (
        request["headers"]["webhook-id"]
        == wait_deliveries(api, endpoint["id"], "delivered", 1)[0]["id"]
    )

    # The same event published again (at-least-once delivery) is not sent again.
    # A sentinel lead after it: once its event is delivered, the duplicate (queued before it)
    # has had every chance to be sent.
    publish_again(endpoints.amqp_url, request["raw"])
    sentinel = new_lead(api, "Sentinel")
    _, second = receiver.wait_for("leads", 2)
    assert json.loads(second["raw"])["data"]["lead"]["id"] == sentinel["id"]
    assert len(receiver.at("leads")) == 2
    row = next(r for r in deliveries(api, endpoint["id"]) if r["event_id"] == event["id"])
    assert (row["event_id"], row["status"], row["attempts"]) == (event["id"], "delivered", 1)
    assert row["last_status_code"] == 204 and row["delivered_at"]
    # An inactive endpoint, or one for other types, got nothing.
    assert receiver.at("off") == [] and receiver.at("deals") == []

    # Rotation: the next event is signed with the new secret only.
    rotated = api.post(f"/webhooks/{endpoint['id']}/rotate-secret", {})
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret != secret and rotated.json()["version"] == endpoint["version"] + 1
    new_lead(api, "Grace Hopper")
    after_rotation = receiver.wait_for("leads", 3)[2]
    assert verify(new_secret, after_rotation) and not verify(secret, after_rotation)

    # The secret is never shown again: not in reads, lists, nor the audit log.
    shown = [api.get(f"/webhooks/{endpoint['id']}"), api.get("/webhooks")]
    audit = api.get("/audit-logs?entity_type=webhook_endpoint")
    assert {r.status_code for r in [*shown, audit]} == {200}
    for response in [*shown, audit]:
        assert "whsec_" not in response.text and "secret_encrypted" not in response.text
    actions = sorted(item["action"] for item in audit.json()["items"])
    assert actions == ["webhook.created"] * 3 + ["webhook.secret_rotated"]
    rows = admin_conn.run("SELECT CAST(changes AS text) FROM audit_log WHERE tenant_id = :t"
                          " AND entity_type = 'webhook_endpoint'", t=uuid.UUID(tenant.id))  # fmt: skip
    assert rows and all("whsec_" not in row[0] for row in rows)


def publish_again(amqp_url: str, body: bytes) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            "", "q.webhook", body,
            pika.BasicProperties(content_type="application/cloudevents+json", delivery_mode=2),
        )  # fmt: skip
    finally:
        connection.close()


def test_a_failing_receiver_gets_the_event_on_the_retry(
    local_cloud: LocalCloudProcess, receiver: Receiver
) -> None:
    tenant = sign_up(local_cloud.url, "Retry")
    api = tenant.owner.api
    endpoint = create(api, receiver.path("flaky"), ["crm.lead.*"])
    receiver.fail_first = 1
    new_lead(api, "Flaky")
    # The first retry waits for the first delay of the schedule (10 s by default).
    first, second = receiver.wait_for("flaky", 2, timeout=90)[:2]
    assert (first["answered"], second["answered"]) == (500, 204)
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"]
    assert first["raw"] == second["raw"]
    assert second["at"] - first["at"] >= 5
    [row] = wait_deliveries(api, endpoint["id"], "delivered", 1)
    assert (row["attempts"], row["last_status_code"], row["last_error"]) == (2, 204, None)
    # delivered once, not again: a sentinel event sent after it arrives, and nothing else
    sentinel = new_lead(api, "Sentinel")
    third = receiver.wait_for("flaky", 3, timeout=60)[2]
    assert json.loads(third["raw"])["data"]["lead"]["id"] == sentinel["id"]
    assert len(receiver.at("flaky")) == 3


def test_validation_is_422_per_field(local_cloud: LocalCloudProcess, receiver: Receiver) -> None:
    api = sign_up(local_cloud.url, "Valid").owner.api
    cases: list[tuple[dict[str, Any], str]] = [
        ({"url": "https://user:pw@hooks.example.com/x", "event_types": ["crm.lead.created"]}, "url"),
        ({"url": "ftp://hooks.example.com/x", "event_types": ["crm.lead.created"]}, "url"),
        ({"url": "https://hooks.example.com/" + "a" * 2100, "event_types": ["crm.lead.created"]}, "url"),
        ({"url": receiver.path("x"), "event_types": []}, "event_types"),
        ({"url": receiver.path("x"), "event_types": ["crm.lead.exploded"]}, "event_types"),
        ({"url": receiver.path("x"), "event_types": ["crm.nothing.*"]}, "event_types"),
        ({"url": receiver.path("x")}, "event_types"),
        ({"url": receiver.path("x"), "event_types": ["crm.lead.created"], "secret": "mine"}, "secret"),
    ]  # fmt: skip
    for body, field_name in cases:
        response = api.post("/webhooks", body)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == PROBLEM
        locs = [error["loc"] for error in response.json()["errors"]]
        assert any(field_name in loc for loc in locs), (body, locs)
    endpoint = create(api, receiver.path("x"), ["crm.lead.created"])
    for patch in ({"url": None}, {"event_types": ["nope"]}, {"url": "https://a:b@x.example/"}):
        response = api.patch(f"/webhooks/{endpoint['id']}", patch)
        assert response.status_code == 422, (patch, response.text)
    assert api.get(f"/webhooks/{endpoint['id']}").json()["version"] == 1
    bad_status = api.get(f"/webhooks/{endpoint['id']}/deliveries?status=lost")
    assert bad_status.status_code == 422
    assert api.get("/webhooks?cursor=not-a-cursor").status_code == 422


def test_etag_if_match_and_idempotency(local_cloud: LocalCloudProcess, receiver: Receiver) -> None:
    api = sign_up(local_cloud.url, "Etag").owner.api
    body = {"url": receiver.path("x"), "event_types": ["crm.deal.*"]}
    key = str(uuid.uuid4())
    first = api.post("/webhooks", body, **{"Idempotency-Key": key})
    again = api.post("/webhooks", body, **{"Idempotency-Key": key})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()  # the same endpoint and secret
    assert api.post("/webhooks", {**body, "description": "x"},
                    **{"Idempotency-Key": key}).status_code == 422  # fmt: skip
    endpoint_id = first.json()["id"]
    assert len(api.get("/webhooks").json()["items"]) == 1

    read = api.get(f"/webhooks/{endpoint_id}")
    assert read.headers["ETag"] == '"1"'
    changed = api.patch(f"/webhooks/{endpoint_id}", {"active": False, "description": None},
                        **{"If-Match": '"1"'})  # fmt: skip
    assert changed.status_code == 200 and changed.headers["ETag"] == '"2"'
    assert changed.json()["active"] is False
    stale = api.patch(f"/webhooks/{endpoint_id}", {"active": True}, **{"If-Match": '"1"'})
    assert stale.status_code == 412 and stale.headers["content-type"] == PROBLEM
    assert (
        api.request("DELETE", f"/webhooks/{endpoint_id}", **{"If-Match": '"1"'}).status_code == 412
    )
    assert (
        api.request("DELETE", f"/webhooks/{endpoint_id}", **{"If-Match": '"2"'}).status_code == 204
    )
    assert api.get(f"/webhooks/{endpoint_id}").status_code == 404


def test_pagination_of_endpoints(local_cloud: LocalCloudProcess, receiver: Receiver) -> None:
    api = sign_up(local_cloud.url, "Pages").owner.api
    made = [create(api, receiver.path(f"p{i}"), ["crm.deal.won"])["id"] for i in range(3)]
    first = api.get("/webhooks?limit=2").json()
    second = api.get(f"/webhooks?limit=2&cursor={first['next_cursor']}").json()
    assert [e["id"] for e in first["items"] + second["items"]] == made[::-1]
    assert second["next_cursor"] is None


def test_roles_and_tenants(local_cloud: LocalCloudProcess, receiver: Receiver) -> None:
    tenant: Tenant = sign_up(local_cloud.url, "Roles")
    other = sign_up(local_cloud.url, "Others").owner.api
    endpoint = create(tenant.owner.api, receiver.path("x"), ["crm.lead.created"])
    admin = add_member(local_cloud.url, local_cloud.mailpit_url, tenant, "admin")
    assert admin.api.get(f"/webhooks/{endpoint['id']}").status_code == 200
    for role in ("manager", "seller", "viewer"):
        member = add_member(local_cloud.url, local_cloud.mailpit_url, tenant, role)
        for method, path, body in [
            ("GET", "/webhooks", None),
            ("POST", "/webhooks", {"url": receiver.path("y"), "event_types": ["crm.lead.created"]}),
            ("GET", f"/webhooks/{endpoint['id']}", None),
            ("POST", f"/webhooks/{endpoint['id']}/rotate-secret", {}),
            ("GET", f"/webhooks/{endpoint['id']}/deliveries", None),
        ]:
            response = member.api.request(method, path, body)
            assert response.status_code == 403, (role, method, path, response.text)
    # Another tenant's endpoint: 404 whatever the route, never 403
    for method, path, body in [
        ("GET", f"/webhooks/{endpoint['id']}", None),
        ("PATCH", f"/webhooks/{endpoint['id']}", {"active": False}),
        ("DELETE", f"/webhooks/{endpoint['id']}", None),
        ("POST", f"/webhooks/{endpoint['id']}/rotate-secret", {}),
        ("GET", f"/webhooks/{endpoint['id']}/deliveries", None),
    ]:
        response = other.request(method, path, body)
        assert response.status_code == 404, (method, path, response.text)
    assert tenant.owner.api.get(f"/webhooks/{endpoint['id']}").json()["active"] is True


def test_delivery_latency_from_commit_to_receiver(
    local_cloud: LocalCloudProcess, receiver: Receiver
) -> None:
    """Every one of 50 leads arrives exactly once; prints commit->receiver latencies (the
    figure is reported, not asserted: shared machines vary)."""
    api = sign_up(local_cloud.url, "Latency").owner.api
    create(api, receiver.path("lat"), ["crm.lead.created"])
    committed: dict[str, float] = {}
    for i in range(50):
        lead = new_lead(api, f"Lead {i}")
        committed[lead["id"]] = time.time()
    arrived = receiver.wait_for("lat", 50, timeout=120)
    by_lead = {json.loads(r["raw"])["data"]["lead"]["id"]: r["at"] for r in arrived}
    assert sorted(by_lead) == sorted(committed) and len(arrived) == 50
    latencies = sorted((by_lead[i] - committed[i]) * 1000 for i in committed)
    print(f"\nwebhook latency commit->receiver over 50 events: p50 "
          f"{statistics.median(latencies):.0f} ms, p90 {latencies[44]:.0f} ms, "
          f"max {latencies[-1]:.0f} ms")  # fmt: skip
