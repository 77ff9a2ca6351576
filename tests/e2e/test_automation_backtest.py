"""POST /automations/{id}/backtest through the local cloud: 1,000 archived events replayed
(two pages of 500) through a workflow that tags, mails, texts and calls a webhook — per-event results and a
summary come back, and nothing happened: every tenant table keeps its row count, SES holds no
new mail, SNS no new text message, the webhook receiver got nothing."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from crm.adapters.postgres.connection import connect

from local.services import Endpoints
from tests.e2e.conftest import LocalCloudProcess, WebhookReceiver
from tests.e2e.test_automation_simulation import settled_row_counts, tenant_row_counts
from tests.e2e.test_walking_skeleton import _wait_until_consumed, sign_up_and_log_in

pytestmark = pytest.mark.e2e


QUEUES = ("q.automation", "q.email", "q.webhook", "q.analytics", "q.realtime")


def quiet_row_counts(endpoints: Endpoints, tenant_id: str) -> dict[str, int]:
    """The tenant's row counts once its events are all published and every queue is drained
    (the consumers' processed_events then stop growing)."""
    conn = connect(endpoints.admin_database_url)
    try:
        deadline = time.monotonic() + 60
        while conn.run(
            "SELECT count(*) FROM outbox WHERE tenant_id = CAST(:t AS uuid)"
            " AND published_at IS NULL",
            t=tenant_id,
        ) != [[0]]:
            assert time.monotonic() < deadline, "the tenant's events were not published"
            time.sleep(0.2)
    finally:
        conn.close()
    for queue in QUEUES:
        _wait_until_consumed(endpoints, queue, timeout=60)
    return settled_row_counts(endpoints, tenant_id)


def moto_counts(cloud: LocalCloudProcess) -> tuple[int, str]:
    data = requests.get(f"{cloud.moto_url}/moto-api/data.json", timeout=30).json()
    return len(data.get("ses", {}).get("Message", [])), repr(data.get("sns", {}))


def test_a_backtest_over_1000_archived_events_writes_and_sends_nothing(
    local_cloud: LocalCloudProcess, endpoints: Endpoints, webhook_receiver: WebhookReceiver
) -> None:
    tenant, signup = sign_up_and_log_in(local_cloud.url, "Backco")
    assert tenant.post("/tags", {"name": "vip"}).status_code == 201
    leads = [
        tenant.post("/leads", {"name": f"L{i}", "email": f"l{i}-{signup['id'][:6]}@example.com",
                               "phone": f"+1415555010{i}", "source": "web" if i % 2 else "ads"}).json()
        for i in range(4)
    ]  # fmt: skip
    base = datetime.now(UTC) - timedelta(days=1)
    conn = connect(endpoints.admin_database_url)
    try:
        # 1,000 past events: copies of the leads' crm.lead.created, 4 a minute from `base`.
        conn.run(
            "INSERT INTO event_archive (id, tenant_id, type, subject, occurred_at, envelope)"
            " SELECT gen_random_uuid(), a.tenant_id, a.type, a.subject,"
            "        CAST(:base AS timestamptz) + g * interval '1 minute',"
            "        jsonb_set(a.envelope, '{id}', to_jsonb(gen_random_uuid()::text))"
            " FROM event_archive a, generate_series(1, 250) g"
            " WHERE a.tenant_id = CAST(:t AS uuid) AND a.type = 'crm.lead.created'",
            t=signup["id"],
            base=base,
        )
    finally:
        conn.close()
    workflow = {
        "trigger": {"event": "crm.lead.created"},
        "steps": [
            {"id": "web", "type": "condition",
             "when": {"all": [{"field": "lead.source", "op": "eq", "value": "web"}]},
             "then": [
                 {"id": "tag", "type": "action", "action": {"kind": "add_tag", "tag": "vip"}},
                 {"id": "mail", "type": "action",
                  "action": {"kind": "send_email", "to": "{{lead.email}}", "subject": "Hi",
                             "body": "Hello {{lead.name}}"}},
                 {"id": "sms", "type": "action",
                  "action": {"kind": "send_sms", "to": "{{lead.phone}}", "message": "Hi"}},
                 {"id": "hook", "type": "action",
                  "action": {"kind": "webhook", "url": webhook_receiver.url}},
             ]},
        ],
    }  # fmt: skip
    # Created once the leads' events are consumed: they start no run of it.
    quiet_row_counts(endpoints, signup["id"])
    created = tenant.post(
        "/automations", {"name": "Backtested", "workflow": workflow, "publish": True}
    )
    assert created.status_code == 201, created.text
    before = quiet_row_counts(endpoints, signup["id"])
    mail_before, sns_before = moto_counts(local_cloud)

    middle, end = base + timedelta(minutes=125, seconds=30), base + timedelta(minutes=251)
    started = time.monotonic()
    pages = [
        tenant.post(
            f"/automations/{created.json()['id']}/backtest",
            {"since": since.isoformat(), "until": until.isoformat(), "limit": 500},
        )
        for since, until in ((base, middle), (middle, end))
    ]
    elapsed = time.monotonic() - started
    assert [page.status_code for page in pages] == [200, 200], pages[0].text
    bodies = [page.json() for page in pages]
    assert [body["summary"]["events"] for body in bodies] == [500, 500]
    ids = {event["event"]["id"] for body in bodies for event in body["events"]}
    assert len(ids) == 1000
    # Half the leads came from the web: 250 runs a page tag, mail, text and call the webhook.
    for body in bodies:
        assert body["summary"]["actions"] == {
            "add_tag": 250, "send_email": 250, "send_sms": 250, "webhook": 250,
        }  # fmt: skip
        assert body["diff"]["text"] == "no difference"
    print(f"backtest: 1000 events in {elapsed:.1f} s ({1000 / elapsed:.0f} events/s)")

    assert tenant_row_counts(endpoints, signup["id"]) == before
    assert quiet_row_counts(endpoints, signup["id"]) == before  # nothing was published either
    assert moto_counts(local_cloud) == (mail_before, sns_before)
    assert webhook_receiver.requests == []
    assert all(tag == [] for tag in (tenant.get(f"/leads/{x['id']}").json()["tags"] for x in leads))


def test_backtest_refuses_an_empty_period_and_another_tenants_automation(
    local_cloud: LocalCloudProcess,
) -> None:
    tenant, _ = sign_up_and_log_in(local_cloud.url, "Backref")
    other, _ = sign_up_and_log_in(local_cloud.url, "Backoth")
    workflow = {
        "trigger": {"event": "crm.lead.created"},
        "steps": [{"id": "n", "type": "action", "action": {"kind": "create_note", "body": "x"}}],
    }
    automation = tenant.post(
        "/automations", {"name": "N", "workflow": workflow, "publish": True}
    ).json()
    now = datetime.now(UTC).isoformat()
    empty = tenant.post(f"/automations/{automation['id']}/backtest", {"since": now, "until": now})
    assert empty.status_code == 422 and empty.json()["errors"][0]["loc"] == ["body", "until"]
    bad = tenant.post(f"/automations/{automation['id']}/backtest", {"since": "yesterday"})
    assert bad.status_code == 422
    foreign = other.post(
        f"/automations/{automation['id']}/backtest",
        {"since": "2026-01-01T00:00:00Z", "until": now},
    )
    assert foreign.status_code == 404
