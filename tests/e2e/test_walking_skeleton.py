"""The thin slice, end to end through the local cloud and the real servers:
sign-up -> login -> lead -> outbox -> RabbitMQ -> (OpenSearch report, Step Functions run ->
automation_step -> webhook), with tenant isolation and exactly-once side effects."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pika
import pytest
import requests
from crm.adapters.postgres.connection import connect

from local.services import Endpoints
from tests.e2e.conftest import LocalCloudProcess, WebhookReceiver

pytestmark = pytest.mark.e2e


class Client:
    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def post(self, path: str, body: Any, **headers: str) -> requests.Response:
        return requests.post(
            self.base_url + path, json=body, headers={**self.headers, **headers}, timeout=30
        )

    def get(self, path: str) -> requests.Response:
        return requests.get(self.base_url + path, headers=self.headers, timeout=30)


def sign_up_and_log_in(base_url: str, name: str) -> tuple[Client, dict[str, Any]]:
    slug = f"{name.lower()}-{uuid.uuid4().hex[:8]}"
    email = f"owner@{slug}.example.com"
    anonymous = Client(base_url)
    signed_up = anonymous.post(
        "/tenants",
        {
            "name": name,
            "slug": slug,
            "owner": {"email": email, "password": "correct horse battery", "name": "Owner"},
        },
    )
    assert signed_up.status_code == 201, signed_up.text
    login = anonymous.post("/auth/login", {"email": email, "password": "correct horse battery"})
    assert login.status_code == 200, login.text
    return Client(base_url, login.json()["access_token"]), signed_up.json()


def webhook_workflow(url: str) -> dict[str, Any]:
    return {
        "trigger": {"event": "crm.lead.created"},
        "steps": [{"id": "notify", "type": "action", "action": {"kind": "webhook", "url": url}}],
    }


def test_the_walking_skeleton_end_to_end(
    local_cloud: LocalCloudProcess, webhook_receiver: WebhookReceiver, endpoints: Endpoints
) -> None:
    # Given two tenants, and tenant A's automation "on lead.created, POST a webhook"
    tenant_a, signup_a = sign_up_and_log_in(local_cloud.url, "Acme")
    tenant_b, _ = sign_up_and_log_in(local_cloud.url, "Globex")
    automation = tenant_a.post(
        "/automations",
        {
            "name": "Tell the CRM hook",
            "workflow": webhook_workflow(webhook_receiver.url),
            "publish": True,
        },
    )
    assert automation.status_code == 201, automation.text

    # When tenant A creates a lead
    created = tenant_a.post(
        "/leads", {"name": "João Silva", "email": "joao@example.com", "source": "web"}
    )
    assert created.status_code == 201, created.text
    lead = created.json()

    # Then A reads it and B gets 404, never 403
    assert tenant_a.get(f"/leads/{lead['id']}").json()["name"] == "João Silva"
    other = tenant_b.get(f"/leads/{lead['id']}")
    assert other.status_code == 404
    assert other.headers["content-type"] == "application/problem+json"

    # And the automation delivered the webhook once, carrying the event
    delivered = webhook_receiver.wait_for(1)
    assert len(delivered) == 1, local_cloud.log_tail()
    event = delivered[0]["body"]["event"]
    assert event["type"] == "crm.lead.created"
    assert event["data"]["lead"]["id"] == lead["id"]
    assert event["tenantid"] == signup_a["id"]
    assert delivered[0]["headers"]["webhook-id"]

    # When the same event is published again (a duplicate delivery)
    _republish_lead_created(endpoints, lead["id"])
    _wait_until_consumed(endpoints, "q.automation")
    # and a sentinel lead is created after it, whose webhook marks that the duplicate (queued
    # before it) has had every chance to produce one
    sentinel = tenant_a.post("/leads", {"name": "Sentinel", "source": "web"}).json()

    # Then no second webhook arrives for the first lead: only the sentinel's
    delivered = webhook_receiver.wait_for(2)
    assert [r["body"]["event"]["data"]["lead"]["id"] for r in delivered] == [
        lead["id"],
        sentinel["id"],
    ], local_cloud.log_tail()

    # And the report, read from OpenSearch, counts the leads for A only
    assert _eventually(lambda: tenant_a.get("/reports/leads").json()["by_status"].get("new") == 2)
    assert tenant_b.get("/reports/leads").json() == {
        "total": 0,
        "by_status": {},
        "average_days_to_convert": None,
    }


def test_protected_routes_reject_missing_and_bad_tokens(local_cloud: LocalCloudProcess) -> None:
    assert Client(local_cloud.url).get(f"/leads/{uuid.uuid4()}").status_code == 401
    forged = Client(local_cloud.url, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
    assert forged.get(f"/leads/{uuid.uuid4()}").status_code == 401


def test_bad_input_is_a_problem_json_with_field_errors(local_cloud: LocalCloudProcess) -> None:
    tenant, _ = sign_up_and_log_in(local_cloud.url, "Initech")
    response = tenant.post("/leads", {"email": "not-an-email"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    locations = {tuple(error["loc"]) for error in response.json()["errors"]}
    assert ("body", "name") in locations and ("body", "email") in locations


def test_idempotency_key_replays_the_first_response(local_cloud: LocalCloudProcess) -> None:
    tenant, _ = sign_up_and_log_in(local_cloud.url, "Umbrella")
    first = tenant.post("/leads", {"name": "Once"}, **{"Idempotency-Key": "abc-1"})
    again = tenant.post("/leads", {"name": "Once"}, **{"Idempotency-Key": "abc-1"})
    different = tenant.post("/leads", {"name": "Twice"}, **{"Idempotency-Key": "abc-1"})
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert different.status_code == 422
    assert different.headers["content-type"] == "application/problem+json"


def _republish_lead_created(endpoints: Endpoints, lead_id: str) -> None:
    conn = connect(endpoints.admin_database_url)
    try:
        rows = conn.run(
            "SELECT envelope::text FROM outbox WHERE type = 'crm.lead.created'"
            " AND envelope->'data'->'lead'->>'id' = :id",
            id=lead_id,
        )
    finally:
        conn.close()
    assert len(rows) == 1
    connection = pika.BlockingConnection(pika.URLParameters(endpoints.amqp_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish("crm.events", "crm.lead.created", rows[0][0].encode(), mandatory=True)
    finally:
        connection.close()


def _wait_until_consumed(endpoints: Endpoints, queue: str, timeout: float = 30) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(endpoints.amqp_url))
    try:
        channel = connection.channel()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            declared = channel.queue_declare(queue, passive=True)
            if declared.method.message_count == 0:
                return
            time.sleep(0.2)
    finally:
        connection.close()
    pytest.fail(f"{queue} was not drained in {timeout}s")


def _eventually(check: Any, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False
