"""The email pipeline through the local cloud: POST /emails queues the email with its
crm.email.requested event, the email worker (q.email) sends it through the SMTP transport to
Mailpit, and GET /emails shows it sent with the provider's message id."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pika
import pytest
import requests

from local.services import Endpoints
from tests.e2e.conftest import LocalCloudProcess
from tests.e2e.tenancy_support import Api, add_member, sign_up
from tests.mailpit import Mailpit

pytestmark = pytest.mark.e2e

PROBLEM = "application/problem+json"


def new_lead(api: Api, name: str, email: str | None) -> dict[str, Any]:
    response = api.post("/leads", {"name": name, **({"email": email} if email else {})})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def send(api: Api, lead_id: str, subject: str, **extra: Any) -> dict[str, Any]:
    body = {"to": {"type": "lead", "id": lead_id}, "subject": subject, **extra}
    response = api.post("/emails", body)
    assert response.status_code == 202, response.text
    sent: dict[str, Any] = response.json()
    return sent


def wait_status(api: Api, email_id: str, status: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        email: dict[str, Any] = api.get(f"/emails/{email_id}").json()
        if email["status"] == status or time.monotonic() > deadline:
            return email
        time.sleep(0.2)


def publish_to_email_queue(amqp_url: str, body: bytes, times: int) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        for _ in range(times):
            channel.basic_publish(
                "", "q.email", body,
                pika.BasicProperties(content_type="application/cloudevents+json", delivery_mode=2),
            )  # fmt: skip
    finally:
        connection.close()


def test_an_email_reaches_mailpit_once_even_when_its_event_comes_three_times(
    local_cloud: LocalCloudProcess, endpoints: Endpoints, admin_conn: Any
) -> None:
    tenant = sign_up(local_cloud.url, "Mailer")
    api = tenant.owner.api
    address = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    lead = new_lead(api, "Ada Lovelace", address)
    body = {
        "to": {"type": "lead", "id": lead["id"]},
        "subject": "Hello Ada",
        "html": "<p>Dear Ada,</p><p>see <a href='https://crm.example.com'>us</a></p>",
    }
    first = api.post("/emails", body, **{"Idempotency-Key": "mail-1"})
    again = api.post("/emails", body, **{"Idempotency-Key": "mail-1"})
    assert first.status_code == again.status_code == 202, first.text
    assert again.headers["Idempotent-Replayed"] == "true"
    queued = first.json()
    assert again.json()["id"] == queued["id"]
    assert (queued["status"], queued["to"], queued["record"]) == (
        "queued", address, {"type": "lead", "id": lead["id"]},
    )  # fmt: skip

    mailpit = Mailpit(local_cloud.mailpit_url)
    [message] = mailpit.wait_for(address)
    full = mailpit.message(message["ID"])
    assert full["Subject"] == "Hello Ada" and full["From"]["Address"] == "no-reply@crm.local"
    assert "Dear Ada" in full["Text"] and "(https://crm.example.com)" in full["Text"]
    assert "<p>Dear Ada,</p>" in full["HTML"]
    headers = mailpit.headers(message["ID"])
    assert headers["X-Crm-Tenant"] == [tenant.id]
    assert headers["Message-Id"] == [f"<{queued['id']}@crm.local>"]

    sent = wait_status(api, queued["id"], "sent")
    assert sent["status"] == "sent" and sent["provider"] == "smtp" and sent["attempts"] == 1
    assert sent["provider_message_id"] == f"<{queued['id']}@crm.local>"
    assert [h["status"] for h in sent["history"]] == ["queued", "sent"]
    listed = api.get(f"/emails?record_type=lead&record_id={lead['id']}&status=sent").json()
    assert [item["id"] for item in listed["items"]] == [queued["id"]]
    assert "html" not in listed["items"][0]
    timeline = api.get(f"/leads/{lead['id']}/timeline").json()["items"]
    [on_timeline] = [item for item in timeline if item["type"] == "email"]
    assert (on_timeline["id"], on_timeline["subject"], on_timeline["status"]) == (
        queued["id"], "Hello Ada", "sent",
    )  # fmt: skip

    # The same event, three more times: the worker's ledger lets none of them send again.
    [(envelope,)] = admin_conn.run(
        "SELECT CAST(envelope AS text) FROM outbox WHERE type = 'crm.email.requested'"
        " AND envelope->>'subject' = :subject",
        subject=f"emails/{queued['id']}",
    )
    publish_to_email_queue(endpoints.amqp_url, envelope.encode(), 3)
    # A sentinel queued after them arrives after them (one queue, in order).
    sentinel_address = f"sentinel-{uuid.uuid4().hex[:8]}@example.com"
    send(api, new_lead(api, "Sentinel", sentinel_address)["id"], "sentinel", text="s")
    assert mailpit.wait_for(sentinel_address)
    assert len(mailpit.messages_to(address)) == 1
    assert api.get(f"/emails/{queued['id']}").json()["attempts"] == 1
    assert json.loads(envelope)["data"] == {
        "email_id": queued["id"], "purpose": "message",
        "record": {"type": "lead", "id": lead["id"]},
    }  # fmt: skip


def test_bad_requests_are_422_and_other_tenants_or_sellers_get_404(
    local_cloud: LocalCloudProcess,
) -> None:
    tenant = sign_up(local_cloud.url, "Owners")
    api = tenant.owner.api
    lead = new_lead(api, "Grace", f"grace-{uuid.uuid4().hex[:6]}@example.com")
    nameless = new_lead(api, "No Address", None)

    no_body = api.post("/emails", {"to": {"type": "lead", "id": lead["id"]}, "subject": "x"})
    assert no_body.status_code == 422 and no_body.headers["content-type"] == PROBLEM
    unknown_type = api.post(
        "/emails", {"to": {"type": "deal", "id": lead["id"]}, "subject": "x", "text": "y"}
    )
    assert unknown_type.status_code == 422
    assert unknown_type.json()["errors"][0]["loc"][:3] == ["body", "to", "type"]
    no_address = api.post(
        "/emails", {"to": {"type": "lead", "id": nameless["id"]}, "subject": "x", "text": "y"}
    )
    assert no_address.status_code == 422
    assert no_address.json()["errors"][0]["loc"] == ["body", "to", "id"]
    assert api.get("/emails?status=lost").status_code == 422

    email = send(api, lead["id"], "owner's", text="hi")
    other = sign_up(local_cloud.url, "Others").owner.api
    assert other.get(f"/emails/{email['id']}").status_code == 404
    assert other.get("/emails").json()["items"] == []
    to_foreign = {"to": {"type": "lead", "id": lead["id"]}, "subject": "x", "text": "y"}
    assert other.post("/emails", to_foreign).status_code == 404

    seller = add_member(local_cloud.url, local_cloud.mailpit_url, tenant, "seller")
    assert seller.api.get(f"/emails/{email['id']}").status_code == 404
    own_lead = new_lead(seller.api, "Seller's", f"s-{uuid.uuid4().hex[:6]}@example.com")
    mine = send(seller.api, own_lead["id"], "seller's", text="hello")
    assert [e["id"] for e in seller.api.get("/emails").json()["items"]] == [mine["id"]]
    # the owner's lead belongs to nobody: a seller may email it, not read the owner's email
    assert seller.api.get(f"/emails/{mine['id']}").status_code == 200
    viewer = add_member(local_cloud.url, local_cloud.mailpit_url, tenant, "viewer")
    assert viewer.api.post("/emails", to_foreign).status_code == 403
    assert {e["id"] for e in viewer.api.get("/emails").json()["items"]} >= {email["id"]}


def test_templates_are_checked_at_save_versioned_escaped_and_sent(
    local_cloud: LocalCloudProcess,
) -> None:
    tenant = sign_up(local_cloud.url, "Templates")
    api = tenant.owner.api
    unknown = api.post(
        "/email-templates",
        {"name": "Bad", "subject": "Hi {{ record.nickname }}", "text": "{{ lead.name }}"},
    )
    assert unknown.status_code == 422 and unknown.headers["content-type"] == PROBLEM
    assert {tuple(e["loc"]) for e in unknown.json()["errors"]} == {
        ("body", "subject"), ("body", "text"),
    }  # fmt: skip

    created = api.post(
        "/email-templates",
        {"name": "Welcome", "subject": "Welcome {{ record.first_name }}",
         "html": "<p>Hello {{ record.name }}, I am {{ sender.name }} of {{ tenant.name }}.</p>"
                 "<p>{{ vars.offer }}</p>"},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    template = created.json()
    assert template["version"] == 1 and created.headers["ETag"] == '"1"'

    address = f"xss-{uuid.uuid4().hex[:8]}@example.com"
    lead = new_lead(api, "<script>alert(1)</script> Eve", address)
    record = {"type": "lead", "id": lead["id"]}
    preview = api.post(
        f"/email-templates/{template['id']}/preview",
        {"record": record, "variables": {"offer": "10%"}},
    )
    assert preview.status_code == 200, preview.text
    shown = preview.json()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Eve" in shown["html"]
    assert "<script>" not in shown["html"] and "I am Owner of Templates." in shown["html"]
    assert shown["subject"] == "Welcome <script>alert(1)</script>"
    missing_var = api.post(f"/email-templates/{template['id']}/preview", {"record": record})
    assert missing_var.status_code == 422
    assert missing_var.json()["errors"][0]["loc"] == ["body", "variables"]

    stale = api.patch(f"/email-templates/{template['id']}", {"name": "W"}, **{"If-Match": '"9"'})
    assert stale.status_code == 412
    edited = api.patch(
        f"/email-templates/{template['id']}",
        {"html": "<p>Hi {{ record.name }}: {{ vars.offer }}</p>"},
        **{"If-Match": '"1"'},
    )
    assert edited.status_code == 200 and edited.json()["version"] == 2, edited.text

    sent = api.post(
        "/emails", {"to": record, "template_id": template["id"], "variables": {"offer": "20%"}}
    )
    assert sent.status_code == 202, sent.text
    assert sent.json()["template"] == {"id": template["id"], "version": 2}
    mailpit = Mailpit(local_cloud.mailpit_url)
    [message] = mailpit.wait_for(address)
    body = mailpit.message(message["ID"])
    assert "Hi &lt;script&gt;alert(1)&lt;/script&gt; Eve: 20%" in body["HTML"]
    assert "Hi <script>alert(1)</script> Eve: 20%" in body["Text"]
    filtered = api.get(f"/emails?template_id={template['id']}").json()["items"]
    assert [e["id"] for e in filtered] == [sent.json()["id"]]

    other = sign_up(local_cloud.url, "Strangers").owner.api
    assert other.get(f"/email-templates/{template['id']}").status_code == 404
    assert (
        other.post(
            "/emails", {"to": record, "template_id": template["id"], "variables": {}}
        ).status_code
        == 404
    )
    assert api.request("DELETE", f"/email-templates/{template['id']}").status_code == 204
    assert api.get(f"/email-templates/{template['id']}").status_code == 404
    assert api.get("/email-templates").json()["items"] == []


def test_one_click_unsubscribe_suppresses_and_the_next_send_is_refused_with_a_reason(
    local_cloud: LocalCloudProcess,
) -> None:
    tenant = sign_up(local_cloud.url, "Consent")
    api = tenant.owner.api
    address = f"news-{uuid.uuid4().hex[:8]}@example.com"
    lead = new_lead(api, "Newsreader", address)
    promo = send(api, lead["id"], "Our news", html="<p>News</p>", marketing=True)
    mailpit = Mailpit(local_cloud.mailpit_url)
    [message] = mailpit.wait_for(address)
    headers = mailpit.headers(message["ID"])
    assert headers["List-Unsubscribe-Post"] == ["List-Unsubscribe=One-Click"]
    [link] = headers["List-Unsubscribe"]
    url = link.strip("<>")
    assert url.startswith(f"{local_cloud.url}/unsubscribe?token=")

    # The mail client's one-click POST (RFC 8058), no credentials: public.
    clicked = requests.post(url, data="List-Unsubscribe=One-Click", timeout=10,
                            headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert clicked.status_code == 200, clicked.text
    assert requests.post(url, timeout=10).status_code == 200  # idempotent
    forged = requests.post(f"{local_cloud.url}/unsubscribe?token={'0' * 64}", timeout=10)
    assert forged.status_code == 404
    listed = api.get("/suppressions").json()["items"]
    assert [(s["address"], s["reason"], s["email_id"]) for s in listed] == [
        (address, "unsubscribe", promo["id"]),
    ]  # fmt: skip

    refused = send(api, lead["id"], "Again", text="hello?")
    rejected = wait_status(api, refused["id"], "rejected")
    assert rejected["status"] == "rejected"
    assert rejected["status_reason"] == "the address is on the suppression list (unsubscribe)"
    # a transactional email to an address that is not listed carries no unsubscribe header
    plain_address = f"plain-{uuid.uuid4().hex[:8]}@example.com"
    send(api, new_lead(api, "Plain", plain_address)["id"], "Hi", text="hi")
    [plain] = mailpit.wait_for(plain_address)
    assert "List-Unsubscribe" not in mailpit.headers(plain["ID"])
    assert len(mailpit.messages_to(address)) == 1

    # by hand: owners add and remove; sellers cannot; another tenant sees none of it
    assert api.post("/suppressions", {"address": "Manual@Example.com"}).status_code == 204
    assert api.post("/suppressions", {"address": "manual@example.com"}).status_code == 409
    assert api.post("/suppressions", {"address": "nope"}).status_code == 422
    seller = add_member(local_cloud.url, local_cloud.mailpit_url, tenant, "seller")
    assert seller.api.get("/suppressions").status_code == 403
    assert sign_up(local_cloud.url, "Else").owner.api.get("/suppressions").json()["items"] == []
    assert api.request("DELETE", f"/suppressions/{address}").status_code == 204
    assert api.request("DELETE", f"/suppressions/{address}").status_code == 404
    again = send(api, lead["id"], "Welcome back", text="hi again")
    assert wait_status(api, again["id"], "sent")["status"] == "sent"
