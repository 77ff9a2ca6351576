"""The actions of issue 11 in automation_step on the real PostgreSQL as the app role (SMS
through the SNS adapter on embedded moto): remove_tag, update_field, assign_owner (one user and
a round-robin that is fair under concurrency), create_deal, create_note, create_task,
notify_user and send_sms. Each effect happens once per (run, step) however often the step
runs, also after a crash between the effect and the commit; the automation is the actor; a
refusal names the step and the field and writes nothing."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from crm.adapters.postgres.unit_of_work import PostgresDatabase
from crm.adapters.sns.sms import SnsSmsSender
from crm.domain.automation_actions import ActionFailed
from crm.domain.custom_fields import FieldType
from crm.domain.events import CloudEvent
from crm.domain.plans import Metric
from crm.domain.records import RecordKind
from crm.domain.tenants import User
from crm.services.automation_runtime import execute_step
from crm.services.deals import get_deal
from crm.services.leads import get_lead
from crm.services.plans import consume_quota
from crm.services.taxonomy import create_custom_field, create_tag
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends

from tests.integration.test_automation_actions import (
    NoWebhooks,
    Org,
    audit_rows,
    deal_event,
    lead_event,
    ledger,
    outbox_types,
)

pytestmark = pytest.mark.integration

REGION = "us-east-1"


@pytest.fixture()
def org(db: PostgresDatabase) -> Org:
    org = Org(db)
    create_tag("cold", None, org.context, unit_of_work=db.unit_of_work)
    return org


def add_user(org: Org, role: str = "seller", status: str = "active") -> User:
    with org.db.unit_of_work(org.id) as uow:
        slug = uow.tenant_profile.get().slug  # type: ignore[union-attr]
        user = User(org.id, f"{uuid.uuid4().hex[:10]}@example.com", "U", "h", role, status)
        uow.users.add(user, tenant_slug=slug)
        uow.commit()
    return user


def run(org: Org, payload: dict[str, Any], **effects: Any) -> dict[str, Any]:
    return execute_step(payload, unit_of_work=org.db.unit_of_work, webhooks=NoWebhooks(), **effects)


def run_with_lost_commit(org: Org, payload: dict[str, Any], **effects: Any) -> None:
    """The step crashes after its effect and before its commit (the Task is then retried)."""

    @contextmanager
    def commit_lost(tenant_id: uuid.UUID) -> Iterator[Any]:
        with org.db.unit_of_work(tenant_id) as uow:

            def lost() -> None:
                raise ConnectionError("the connection dropped at commit")

            uow.commit = lost  # type: ignore[method-assign]
            yield uow

    with pytest.raises(ConnectionError):
        execute_step(payload, unit_of_work=commit_lost, webhooks=NoWebhooks(), **effects)


def history(admin_conn: Any, org: Org, lead_id: str, action: str) -> list[list[Any]]:
    rows: list[list[Any]] = admin_conn.run(
        "SELECT field, new_value, actor_type, actor_id FROM record_history"
        " WHERE tenant_id = :t AND lead_id = :l AND action = :a",
        t=org.id,
        l=uuid.UUID(lead_id),
        a=action,
    )
    return rows


def field_rows(admin_conn: Any, org: Org, lead_id: str, field: str) -> int:
    rows = admin_conn.run(
        "SELECT 1 FROM record_history WHERE tenant_id = :t AND lead_id = :l AND field = :f",
        t=org.id,
        l=uuid.UUID(lead_id),
        f=field,
    )
    return len(rows)


def lead_now(org: Org, lead: dict[str, Any]) -> dict[str, Any]:
    return get_lead(uuid.UUID(lead["id"]), org.owner, unit_of_work=org.db.unit_of_work)


# ------------------------------------------------------------------ exactly once, every action


def _tagged_lead(org: Org) -> dict[str, Any]:
    lead = org.lead()
    org.run(org.payload(lead_event(org, lead), {"kind": "add_tag", "tag": "cold"}))
    return lead_now(org, lead)


EFFECTS: dict[str, tuple[dict[str, Any], Callable[[Any, Org, dict[str, Any]], int]]] = {
    "remove_tag": (
        {"kind": "remove_tag", "tag": "cold"},
        lambda c, o, lead: field_rows(c, o, lead["id"], "tags"),
    ),
    "update_field": (
        {"kind": "update_field", "field": "company", "value": "Acme for {{lead.name}}"},
        lambda c, o, lead: field_rows(c, o, lead["id"], "company"),
    ),
    "create_note": (
        {"kind": "create_note", "body": "Hello {{lead.name}}"},
        lambda c, o, lead: len(
            c.run("SELECT 1 FROM notes WHERE lead_id = :l", l=uuid.UUID(lead["id"]))
        ),
    ),
    "create_deal": (
        {"kind": "create_deal", "title": "{{lead.name}} deal", "pipeline_id": "PIPELINE"},
        lambda c, o, lead: len(
            c.run("SELECT 1 FROM deals WHERE lead_id = :l", l=uuid.UUID(lead["id"]))
        ),
    ),
    "create_task": (
        {"kind": "create_task", "title": "Call {{lead.name}}", "due_in_days": 2},
        lambda c, o, lead: len(history(c, o, lead["id"], "task_created")),
    ),
    "notify_user": (
        {"kind": "notify_user", "message": "New: {{lead.name}}"},
        lambda c, o, lead: len(history(c, o, lead["id"], "user_notified")),
    ),
    "assign_owner": (
        {"kind": "assign_owner", "user_id": "USER"},
        lambda c, o, lead: field_rows(c, o, lead["id"], "owner_id"),
    ),
}


@pytest.mark.parametrize("kind", sorted(EFFECTS))
def test_each_action_takes_effect_once_under_redelivery_and_after_a_lost_commit(
    org: Org, admin_conn: Any, kind: str
) -> None:
    action, count = EFFECTS[kind]
    seller = add_user(org)
    action = {
        k: (str(org.pipeline.id) if v == "PIPELINE" else str(seller.id) if v == "USER" else v)
        for k, v in action.items()
    }
    lead = _tagged_lead(org)
    before = count(admin_conn, org, lead)
    payload = org.payload(lead_event(org, lead), action)

    run_with_lost_commit(org, payload)
    assert count(admin_conn, org, lead) == before  # the crash left nothing
    results = [run(org, payload) for _ in range(3)]

    assert [r["deduplicated"] for r in results] == [False, True, True]
    assert count(admin_conn, org, lead) == before + 1
    assert [row[0] for row in ledger(admin_conn, payload)] == [kind]


# ------------------------------------------------------------------ the actions one by one


def test_remove_tag_untags_as_the_automation(org: Org, admin_conn: Any) -> None:
    lead = _tagged_lead(org)
    payload = org.payload(lead_event(org, lead), {"kind": "remove_tag", "tag": "COLD"})
    result = run(org, payload)
    assert result["tags"] == [] and lead_now(org, lead)["tags"] == []
    audit = audit_rows(admin_conn, org, lead["id"])
    assert audit[-1][:3] == ("lead.updated", "automation", org.automation_id)
    # A tag the lead does not have: nothing changes, the step succeeds.
    again = org.payload(lead_event(org, lead), {"kind": "remove_tag", "tag": "cold"})
    assert run(org, again)["tags"] == []
    assert lead_now(org, lead)["version"] == lead["version"] + 1


def test_update_field_sets_core_and_custom_fields_with_placeholders(org: Org) -> None:
    create_custom_field(
        RecordKind.LEAD, "segment", "Segment", FieldType.SELECT, False, ["smb", "ent"],
        org.context, unit_of_work=org.db.unit_of_work, request={},
    )  # fmt: skip
    create_custom_field(
        RecordKind.LEAD, "seats", "Seats", FieldType.NUMBER, False, [],
        org.context, unit_of_work=org.db.unit_of_work, request={},
    )  # fmt: skip
    lead = org.lead(name="Bea")
    event = CloudEvent(
        type="crm.lead.created", tenant_id=org.id, subject=f"leads/{lead['id']}",
        data={"lead": lead, "form": {"seats": 12, "segment": "smb"}},
    )  # fmt: skip
    steps = [
        {"kind": "update_field", "field": "score", "value": "{{form.seats}}"},
        {"kind": "update_field", "field": "source", "value": "form of {{record.name}}"},
        {"kind": "update_field", "field": "custom_fields.segment", "value": "{{form.segment}}"},
        {"kind": "update_field", "field": "custom_fields.seats", "value": "{{form.seats}}"},
    ]
    results = [run(org, org.payload(event, step)) for step in steps]
    assert [r["value"] for r in results] == [12, "form of Bea", "smb", 12]
    now = lead_now(org, lead)
    assert now["score"] == 12 and now["source"] == "form of Bea"
    assert now["custom_fields"] == {"segment": "smb", "seats": 12}


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (
            {"kind": "update_field", "field": "custom_fields.segment", "value": "huge"},
            r"step act: update_field: .*custom_fields\.segment",
        ),
        (
            {"kind": "update_field", "field": "score", "value": 101},
            r"step act: update_field: value: 101 is not a valid lead score",
        ),
        (
            {"kind": "update_field", "field": "owner_id", "value": "x"},
            r"step act: update_field: field: a lead has no field 'owner_id'",
        ),
        (
            {"kind": "update_field", "field": "custom_fields.nope", "value": "x"},
            r"step act: update_field: .*nope",
        ),
        (
            {"kind": "update_field", "field": "status", "value": "lost"},
            r"step act: update_field: .*lost_reason",
        ),
    ],
)
def test_update_field_refuses_an_invalid_value_naming_step_and_field_and_writes_nothing(
    org: Org, admin_conn: Any, action: dict[str, Any], message: str
) -> None:
    create_custom_field(
        RecordKind.LEAD, "segment", "Segment", FieldType.SELECT, False, ["smb", "ent"],
        org.context, unit_of_work=org.db.unit_of_work, request={},
    )  # fmt: skip
    lead = org.lead()
    payload = org.payload(lead_event(org, lead), action)
    with pytest.raises(ActionFailed, match=message):
        run(org, payload)
    assert ledger(admin_conn, payload) == []
    assert lead_now(org, lead)["version"] == lead["version"]


def test_update_field_on_a_deal(org: Org) -> None:
    deal = org.deal()
    payload = org.payload(
        deal_event(org, deal), {"kind": "update_field", "field": "value", "value": "2500.50"}
    )
    assert run(org, payload)["value"] == "2500.50"
    after = get_deal(uuid.UUID(deal["id"]), org.owner, unit_of_work=org.db.unit_of_work)
    assert str(after["value"]) == "2500.50"


def test_assign_owner_to_one_user_and_refuses_a_deactivated_one(org: Org, admin_conn: Any) -> None:
    seller, gone = add_user(org), add_user(org, status="deactivated")
    lead = org.lead()
    ok = org.payload(lead_event(org, lead), {"kind": "assign_owner", "user_id": str(seller.id)})
    assert run(org, ok)["owner_id"] == str(seller.id)
    assert lead_now(org, lead)["owner_id"] == str(seller.id)
    refused = org.payload(lead_event(org, lead), {"kind": "assign_owner", "user_id": str(gone.id)})
    with pytest.raises(ActionFailed, match=r"step act: assign_owner: user_id: .* not an active"):
        run(org, refused)
    assert ledger(admin_conn, refused) == []


def test_round_robin_over_three_users_gives_each_ten_of_thirty_concurrent_events(
    org: Org, db: PostgresDatabase, admin_conn: Any
) -> None:
    sellers = [add_user(org) for _ in range(3)]
    leads = [org.lead(name=f"L{i}") for i in range(30)]
    action = {"kind": "assign_owner", "round_robin": {"user_ids": [str(s.id) for s in sellers]}}
    payloads = [org.payload(lead_event(org, lead), action) for lead in leads]
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def worker(chunk: list[dict[str, Any]]) -> None:
        barrier.wait()
        for payload in chunk:
            try:
                run(org, payload)
            except BaseException as error:  # reported below
                errors.append(error)

    threads = [threading.Thread(target=worker, args=(payloads[i::6],)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    owners = Counter(lead_now(org, lead)["owner_id"] for lead in leads)
    assert owners == {str(s.id): 10 for s in sellers}
    position = admin_conn.run(
        "SELECT position FROM automation_rotations WHERE tenant_id = :t", t=org.id
    )
    assert position == [[30]]


def test_round_robin_over_a_role_skips_deactivated_users(org: Org) -> None:
    managers = [add_user(org, role="manager") for _ in range(2)]
    add_user(org, role="manager", status="deactivated")
    action = {"kind": "assign_owner", "round_robin": {"role": "manager"}}
    owners = [
        run(org, org.payload(lead_event(org, org.lead()), action))["owner_id"] for _ in range(4)
    ]
    ordered = sorted(str(m.id) for m in managers)
    assert owners == ordered * 2


def test_create_deal_from_a_lead_links_it_and_refuses_a_foreign_pipeline(
    org: Org, db: PostgresDatabase, admin_conn: Any
) -> None:
    lead = org.lead(name="Cyd")
    second_stage = org.pipeline.stages[1].id
    action = {
        "kind": "create_deal", "title": "{{lead.name}} - first order",
        "pipeline_id": str(org.pipeline.id), "stage_id": str(second_stage), "value": "1500.00",
    }  # fmt: skip
    result = run(org, org.payload(lead_event(org, lead), action))
    deal = get_deal(uuid.UUID(result["deal"]), org.owner, unit_of_work=db.unit_of_work)
    assert deal["title"] == "Cyd - first order" and deal["lead_id"] == lead["id"]
    assert deal["stage_id"] == str(second_stage) and deal["owner_id"] == lead["owner_id"]
    assert str(deal["value"]) == "1500.00"
    assert "crm.deal.created" in outbox_types(admin_conn, org, f"deals/{deal['id']}")
    assert audit_rows(admin_conn, org, deal["id"])[0][:3] == (
        "deal.created",
        "automation",
        org.automation_id,
    )
    foreign = Org(db)
    refused = org.payload(
        lead_event(org, lead), {**action, "pipeline_id": str(foreign.pipeline.id)}
    )
    with pytest.raises(ActionFailed, match=r"step act: create_deal: .*pipeline"):
        run(org, refused)
    assert ledger(admin_conn, refused) == []


def test_create_note_task_and_notification_are_timeline_entries_by_the_automation(
    org: Org, admin_conn: Any
) -> None:
    seller = add_user(org)
    lead = org.lead(name="Dee")
    event = lead_event(org, lead)
    run(org, org.payload(event, {"kind": "create_note", "body": "Met {{lead.name}}"}))
    task = run(
        org,
        org.payload(event, {"kind": "create_task", "title": "Call {{lead.name}}",
                            "assignee": str(seller.id), "due_in_days": 1}),
    )  # fmt: skip
    note = admin_conn.run(
        "SELECT body, author_id FROM notes WHERE lead_id = :l", l=uuid.UUID(lead["id"])
    )
    assert note == [["Met Dee", org.automation_id]]
    rows = history(admin_conn, org, lead["id"], "task_created")
    assert rows[0][0] == "task" and rows[0][1]["title"] == "Call Dee"
    assert rows[0][1]["assignee_id"] == str(seller.id) and rows[0][2:] == [
        "automation",
        org.automation_id,
    ]
    assert task["delivered_as"] == "timeline_entry"
    # notify_user to the owner: the lead was created by the owner, who owns it.
    run(org, org.payload(event, {"kind": "notify_user", "message": "Hot: {{lead.name}}"}))
    notified = history(admin_conn, org, lead["id"], "user_notified")
    assert notified[0][1] == {"user_id": str(org.owner.user_id), "message": "Hot: Dee"}


def test_task_and_notification_refuse_a_deal_event_naming_the_step(org: Org) -> None:
    payload = org.payload(deal_event(org, org.deal()), {"kind": "notify_user", "message": "x"})
    with pytest.raises(ActionFailed, match=r"step act: notify_user: .*lead or contact"):
        run(org, payload)


# ------------------------------------------------------------------ send_sms


@pytest.fixture()
def sns() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sns", region_name=REGION)


def sms_sent() -> list[tuple[str, str]]:
    return list(sns_backends[DEFAULT_ACCOUNT_ID][REGION].sms_messages.values())


def test_send_sms_sends_once_counts_the_quota_and_validates_e164(
    org: Org, sns: Any, admin_conn: Any
) -> None:
    sender = SnsSmsSender(sns)
    lead = org.lead(name="Eve")
    event = CloudEvent(
        type="crm.lead.created", tenant_id=org.id, subject=f"leads/{lead['id']}",
        data={"lead": {**lead, "phone": "+55 (11) 98765-4321"}},
    )  # fmt: skip
    action = {"kind": "send_sms", "to": "{{lead.phone}}", "message": "Hi {{lead.name}}"}
    payload = org.payload(event, action)
    first, second = run(org, payload, sms=sender), run(org, payload, sms=sender)
    assert first["to"] == "+5511987654321" and second["deduplicated"] is True
    assert sms_sent() == [("+5511987654321", "Hi Eve")]
    with org.db.unit_of_work(org.id) as uow:
        assert consume_quota(uow, Metric.SMS_PER_DAY, 0) == 1

    bad = org.payload(event, {**action, "to": "{{lead.name}}"})
    with pytest.raises(ActionFailed, match=r"step act: send_sms: to: .*E.164"):
        run(org, bad, sms=sender)
    assert ledger(admin_conn, bad) == [] and len(sms_sent()) == 1


def test_send_sms_refuses_when_the_daily_quota_is_spent(org: Org, sns: Any) -> None:
    with org.db.unit_of_work(org.id) as uow:
        consume_quota(uow, Metric.SMS_PER_DAY, 20)  # the free plan's day
        uow.commit()
    lead = org.lead()
    event = CloudEvent(
        type="crm.lead.created", tenant_id=org.id, subject=f"leads/{lead['id']}",
        data={"lead": {**lead, "phone": "+14155550100"}},
    )  # fmt: skip
    payload = org.payload(event, {"kind": "send_sms", "to": "{{lead.phone}}", "message": "x"})
    with pytest.raises(ActionFailed, match=r"step act: send_sms: .*20 sms per day"):
        run(org, payload, sms=SnsSmsSender(sns))
    assert sms_sent() == []


def test_simulation_goes_on_past_a_refused_step_with_on_error_continue(org: Org) -> None:
    from crm.automation.model import Workflow
    from crm.services.automation_simulation import SimulatedEvent, simulate_automation
    from crm.services.automations import create_automation
    from crm.services.request_context import RequestContext
    from crm.services.taxonomy import create_tag, delete_tag

    workflow = Workflow.model_validate({
        "trigger": {"event": "crm.lead.created"},
        "steps": [
            {"id": "ghost", "type": "action",
             "action": {"kind": "add_tag", "tag": "ghost", "on_error": "continue"}},
            {"id": "note", "type": "action", "action": {"kind": "create_note", "body": "Hi"}},
            {"id": "ghost2", "type": "action", "action": {"kind": "add_tag", "tag": "ghost"}},
            {"id": "never", "type": "action", "action": {"kind": "create_note", "body": "x"}},
        ],
    })  # fmt: skip
    # Saving checks that the tag exists; the simulation then meets it gone.
    context = RequestContext(principal=org.owner, correlation_id=None)
    create_tag("ghost", None, context, unit_of_work=org.db.unit_of_work)
    created = create_automation(
        "Sim", workflow, org.owner, unit_of_work=org.db.unit_of_work,
        step_function_arn="arn:aws:lambda:us-east-1:123456789012:function:step",
    )  # fmt: skip
    delete_tag("ghost", context, unit_of_work=org.db.unit_of_work)
    lead = org.lead()
    result = simulate_automation(
        uuid.UUID(created["id"]), org.owner,
        event=SimulatedEvent("crm.lead.created", {"lead": lead}, f"leads/{lead['id']}"),
        unit_of_work=org.db.unit_of_work,
    )  # fmt: skip
    path = {step["id"]: step["outcome"] for step in result["path"]}
    assert list(path) == ["ghost", "note", "ghost2"]  # the path ends at the failing step
    assert path["ghost"]["refused"] is True and path["ghost"]["continued"] is True
    assert path["ghost"]["config"]["on_error"] == "continue"
    assert path["note"]["refused"] is False
    assert path["ghost2"]["refused"] is True and "continued" not in path["ghost2"]
    assert result["completed"] is False
