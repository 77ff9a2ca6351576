"""The event archive and backtests on the real PostgreSQL: every event written to the outbox
is archived in the same transaction; a backtest replays a period's archived events through a
version of the workflow with no side effect and diffs it against the live version; the
archive keeps events for the plan's retention and the GDPR erasure scrubs it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from crm.adapters.postgres.connection import ConnectionPool
from crm.adapters.postgres.housekeeping import PostgresExpiredRecords
from crm.adapters.postgres.unit_of_work import PostgresDatabase
from crm.automation.model import Workflow
from crm.domain.errors import NotFound, ValidationFailed
from crm.services.automation_backtest import BacktestRequest, backtest_automation
from crm.services.automations import create_automation
from crm.services.event_archive import purge_event_archive

from local.services import Endpoints
from tests.integration.test_automation_actions import Org

pytestmark = pytest.mark.integration

ARN = "arn:aws:lambda:us-east-1:123456789012:function:automation-step"


@pytest.fixture()
def org(db: PostgresDatabase) -> Org:
    return Org(db)


def archived(admin_conn: Any, org: Org) -> list[list[Any]]:
    rows: list[list[Any]] = admin_conn.run(
        "SELECT id, type, subject FROM event_archive WHERE tenant_id = :t ORDER BY occurred_at",
        t=org.id,
    )
    return rows


def add_version(
    admin_conn: Any, automation_id: str, version: int, definition: dict[str, Any]
) -> None:
    """A stored version that is not live (the draft of the lifecycle work)."""
    admin_conn.run(
        "INSERT INTO automation_versions (id, tenant_id, automation_id, version, definition)"
        " SELECT :id, tenant_id, id, :v, CAST(:d AS jsonb) FROM automations WHERE id = :a",
        id=uuid.uuid4(), v=version, d=json.dumps(definition), a=uuid.UUID(automation_id),
    )  # fmt: skip


def test_every_outbox_event_is_archived_in_its_transaction(org: Org, admin_conn: Any) -> None:
    lead = org.lead()
    outbox = admin_conn.run(
        "SELECT id, type FROM outbox WHERE tenant_id = :t ORDER BY created_at", t=org.id
    )
    assert [[r[0], r[1]] for r in outbox] == [[r[0], r[1]] for r in archived(admin_conn, org)]
    assert [f"leads/{lead['id']}"] == [
        r[2] for r in archived(admin_conn, org) if r[1] == "crm.lead.created"
    ]


def test_a_backtest_replays_the_period_and_diffs_against_the_live_version(
    org: Org, admin_conn: Any
) -> None:
    mail = {"kind": "send_email", "to": "{{lead.email}}", "subject": "Hi", "body": "Hello"}
    live = Workflow.model_validate({
        "trigger": {"event": "crm.lead.created"},
        "steps": [{"id": "tag", "type": "action", "action": {"kind": "add_tag", "tag": "vip"}}],
    })  # fmt: skip
    created = create_automation(
        "Tag", live, org.owner, unit_of_work=org.db.unit_of_work, step_function_arn=ARN
    )
    draft = {
        "trigger": {"event": "crm.lead.created"},
        "steps": [
            {"id": "web", "type": "condition",
             "when": {"all": [{"field": "lead.source", "op": "eq", "value": "web"}]},
             "then": [{"id": "mail", "type": "action", "action": mail}]},
        ],
    }  # fmt: skip
    add_version(admin_conn, created["id"], 2, draft)
    since = datetime.now(UTC) - timedelta(minutes=1)
    web = [org.lead(name=f"W{i}") for i in range(2)]
    admin_conn.run(
        "UPDATE event_archive SET envelope = jsonb_set(envelope, '{data,lead,source}', '\"web\"')"
        " WHERE tenant_id = :t AND subject = ANY(CAST(:s AS text[]))",
        t=org.id, s=[f"leads/{lead['id']}" for lead in web],
    )  # fmt: skip
    other = org.lead(name="Other")
    gone = org.lead(name="Gone")
    admin_conn.run("DELETE FROM leads WHERE id = :id", id=uuid.UUID(gone["id"]))
    until = datetime.now(UTC) + timedelta(minutes=1)
    before = admin_conn.run("SELECT count(*) FROM record_history WHERE tenant_id = :t", t=org.id)

    result = backtest_automation(
        uuid.UUID(created["id"]), org.owner, BacktestRequest(None, since, until, 100),
        unit_of_work=org.db.unit_of_work,
    )  # fmt: skip

    assert result["version"] == 2 and result["live_version"] == 1
    assert result["records_as_of"] == "now"
    subjects = [e["event"]["subject"] for e in result["events"]]
    assert subjects == [f"leads/{x['id']}" for x in [*web, other, gone]]
    assert [[a["kind"] for a in e["actions"]] for e in result["events"]] == [
        ["send_email"],
        ["send_email"],
        [],
        [],
    ]
    assert result["summary"]["actions"] == {"send_email": 2}
    # Live: add_tag on each of the 3 leads that still exist; the deleted one is refused.
    assert result["diff"] == {
        "actions": {"add_tag": -3, "send_email": 2},
        "text": "3 fewer add_tag, 2 more send_email",
    }
    # Nothing was written: no tag, no history, no mail quota, no ledger row.
    assert (
        admin_conn.run("SELECT count(*) FROM record_history WHERE tenant_id = :t", t=org.id)
        == before
    )
    assert admin_conn.run(
        "SELECT count(*) FROM leads WHERE tenant_id = :t AND tags <> '{}'", t=org.id
    ) == [[0]]
    assert admin_conn.run(
        "SELECT count(*) FROM usage_counters WHERE tenant_id = :t AND metric = 'emails_per_day'",
        t=org.id,
    ) == [[0]]

    live_only = backtest_automation(
        uuid.UUID(created["id"]), org.owner, BacktestRequest(1, since, until, 2),
        unit_of_work=org.db.unit_of_work,
    )  # fmt: skip
    assert live_only["diff"]["text"] == "no difference" and len(live_only["events"]) == 2
    assert live_only["truncated"] is True


def test_backtest_refusals(org: Org, db: PostgresDatabase) -> None:
    created = create_automation(
        "Tag",
        Workflow.model_validate({"trigger": {"event": "crm.lead.created"}, "steps": [
            {"id": "tag", "type": "action", "action": {"kind": "add_tag", "tag": "vip"}}]}),
        org.owner, unit_of_work=db.unit_of_work, step_function_arn=ARN,
    )  # fmt: skip
    now = datetime.now(UTC)
    with pytest.raises(ValidationFailed, match="period is empty"):
        backtest_automation(uuid.UUID(created["id"]), org.owner,
                            BacktestRequest(None, now, now, 10), unit_of_work=db.unit_of_work)  # fmt: skip
    with pytest.raises(ValidationFailed, match="no such version"):
        backtest_automation(uuid.UUID(created["id"]), org.owner,
                            BacktestRequest(7, now - timedelta(days=1), now, 10),
                            unit_of_work=db.unit_of_work)  # fmt: skip
    foreign = Org(db)
    with pytest.raises(NotFound):
        backtest_automation(uuid.UUID(created["id"]), foreign.owner,
                            BacktestRequest(None, now - timedelta(days=1), now, 10),
                            unit_of_work=db.unit_of_work)  # fmt: skip


def test_the_archive_keeps_events_for_the_plan_retention(
    org: Org, admin_conn: Any, endpoints: Endpoints, migrated: Any
) -> None:
    org.lead()
    org.lead()
    rows = archived(admin_conn, org)
    old, recent = rows[0][0], rows[1][0]
    admin_conn.run(
        "UPDATE event_archive SET occurred_at = now() - interval '31 days' WHERE id = :id", id=old
    )
    admin_conn.run(
        "UPDATE event_archive SET occurred_at = now() - interval '29 days' WHERE id = :id",
        id=recent,
    )
    relay = ConnectionPool(migrated.relay_url, size=1)
    try:
        purge_event_archive(
            PostgresExpiredRecords(relay), unit_of_work=org.db.unit_of_work, now=datetime.now(UTC)
        )
    finally:
        relay.close()
    remaining = [r[0] for r in archived(admin_conn, org)]
    assert old not in remaining and recent in remaining  # the free plan keeps 30 days


def test_the_gdpr_erasure_scrubs_the_archive(org: Org, admin_conn: Any) -> None:
    lead = org.lead(name="Secret Person", email="secret@example.com")
    with org.db.unit_of_work(org.id) as uow:
        assert uow.personal_data.scrub_events([f"leads/{lead['id']}"]) >= 2
        uow.commit()
    rows = admin_conn.run(
        "SELECT envelope::text FROM event_archive WHERE subject = :s", s=f"leads/{lead['id']}"
    )
    assert rows and all("secret@example.com" not in r[0] for r in rows)
