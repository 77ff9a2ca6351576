"""The record actions of automation_step (add_tag, move_stage, send_email) on the real
PostgreSQL as the app role, with mail through the SES adapter on embedded moto: each effect
and its ledger row commit in one transaction, a second execution of the same (run, step) does
nothing, and a refused action fails the step with nothing written."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from crm.adapters.postgres.unit_of_work import PostgresDatabase
from crm.adapters.ses.mailer import SesMailer
from crm.domain.automation_actions import ActionFailed
from crm.domain.errors import UpstreamUnavailable
from crm.domain.events import CloudEvent
from crm.domain.plans import Metric
from crm.domain.tenants import Principal, Role
from crm.services.automation_runtime import execute_step
from crm.services.contacts import NewContact, create_contact
from crm.services.deals import NewDeal, create_deal, delete_deal, get_deal
from crm.services.leads import NewLead, create_lead, get_lead
from crm.services.pipelines import add_default_pipeline
from crm.services.plans import consume_quota
from crm.services.request_context import RequestContext
from crm.services.taxonomy import create_tag
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from tests.conftest import make_tenant

pytestmark = pytest.mark.integration

SENDER = "no-reply@crm.local"
REGION = "us-east-1"


class NoWebhooks:
    def post(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("no webhook action runs in these tests")


class Org:
    """A tenant with its owner, a `vip` tag and its default pipeline."""

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db
        tenant, owner = make_tenant(db, "auto-act")
        self.id = tenant.id
        self.owner = Principal(self.id, owner.id, Role.OWNER)
        self.context = RequestContext(self.owner)
        self.automation_id = uuid.uuid4()
        create_tag("vip", None, self.context, unit_of_work=db.unit_of_work)
        with db.unit_of_work(self.id) as uow:
            self.pipeline = add_default_pipeline(uow, self.id, owner.id)
            uow.commit()

    def stage(self, name: str) -> str:
        return str(next(s.id for s in self.pipeline.stages if s.name == name))

    def lead(self, name: str = "Ana", email: str | None = None) -> dict[str, Any]:
        email = email or f"ana-{uuid.uuid4().hex[:8]}@example.com"
        body, _ = create_lead(
            NewLead(name=name, email=email), self.owner, unit_of_work=self.db.unit_of_work
        )
        return body

    def deal(self) -> dict[str, Any]:
        body, _ = create_deal(
            NewDeal(title="Big one", pipeline_id=self.pipeline.id),
            self.context,
            unit_of_work=self.db.unit_of_work,
            request={},
        )
        return body

    def payload(
        self, event: CloudEvent, action: dict[str, Any], *, run_id: uuid.UUID | None = None
    ) -> dict[str, Any]:
        return {
            "tenant_id": str(self.id),
            "automation_id": str(self.automation_id),
            "version": 1,
            "run_id": str(run_id or uuid.uuid4()),
            "step_id": "act",
            "event": event.to_dict(),
            "action": action,
        }

    def run(self, payload: dict[str, Any], mailer: Any = None) -> dict[str, Any]:
        return execute_step(
            payload, unit_of_work=self.db.unit_of_work, webhooks=NoWebhooks(), mailer=mailer
        )


def lead_event(org: Org, lead: dict[str, Any]) -> CloudEvent:
    return CloudEvent(
        type="crm.lead.created", tenant_id=org.id, subject=f"leads/{lead['id']}",
        data={"lead": lead}, correlation_id="corr-1",
    )  # fmt: skip


def deal_event(org: Org, deal: dict[str, Any]) -> CloudEvent:
    return CloudEvent(
        type="crm.deal.created", tenant_id=org.id, subject=f"deals/{deal['id']}",
        data={"deal": deal},
    )  # fmt: skip


def ledger(admin_conn: Any, payload: dict[str, Any]) -> list[Any]:
    rows: list[Any] = admin_conn.run(
        "SELECT kind, result FROM action_executions WHERE tenant_id = :t AND idempotency_key = :k",
        t=uuid.UUID(payload["tenant_id"]),
        k=f"{payload['run_id']}:{payload['step_id']}",
    )
    return rows


def outbox_types(admin_conn: Any, org: Org, subject: str) -> list[str]:
    rows = admin_conn.run(
        "SELECT type FROM outbox WHERE tenant_id = :t AND envelope->>'subject' = :s"
        " ORDER BY created_at, type",
        t=org.id,
        s=subject,
    )
    return [row[0] for row in rows]


def audit_rows(admin_conn: Any, org: Org, entity_id: str) -> list[tuple[str, str, Any]]:
    rows = admin_conn.run(
        "SELECT action, actor_type, actor_id, request_id FROM audit_log"
        " WHERE tenant_id = :t AND entity_id = :e ORDER BY id",
        t=org.id,
        e=entity_id,
    )
    return [tuple(row) for row in rows]


@pytest.fixture()
def org(db: PostgresDatabase) -> Org:
    return Org(db)


# ------------------------------------------------------------------ add_tag


def test_add_tag_tags_the_lead_once_with_history_event_and_audit_by_the_automation(
    org: Org, admin_conn: Any
) -> None:
    lead = org.lead()
    payload = org.payload(lead_event(org, lead), {"kind": "add_tag", "tag": "VIP"})

    first = org.run(payload)
    second = org.run(payload)

    assert first["deduplicated"] is False and first["tags"] == ["vip"]
    assert second == {**first, "deduplicated": True}
    after = get_lead(uuid.UUID(lead["id"]), org.owner, unit_of_work=org.db.unit_of_work)
    assert after["tags"] == ["vip"] and after["version"] == lead["version"] + 1
    assert [row[0] for row in ledger(admin_conn, payload)] == ["add_tag"]
    history = admin_conn.run(
        "SELECT action, field, new_value, actor_type, actor_id FROM record_history"
        " WHERE tenant_id = :t AND lead_id = :l AND field = 'tags'",
        t=org.id,
        l=uuid.UUID(lead["id"]),
    )
    assert len(history) == 1
    assert history[0][2] == ["vip"] and history[0][3:] == ["automation", org.automation_id]
    events = outbox_types(admin_conn, org, f"leads/{lead['id']}")
    assert events.count("crm.lead.tagged") == 1 and events.count("crm.lead.updated") == 1
    tagged = admin_conn.run(
        "SELECT envelope FROM outbox WHERE tenant_id = :t AND type = 'crm.lead.tagged'"
        " AND envelope->>'subject' = :s",
        t=org.id,
        s=f"leads/{lead['id']}",
    )[0][0]
    assert tagged["correlationid"] == "corr-1"  # the chain from the triggering event
    audit = audit_rows(admin_conn, org, lead["id"])
    assert audit[-1] == (
        "lead.updated",
        "automation",
        org.automation_id,
        f"automation-run:{payload['run_id']}",
    )
    assert len(audit) == 2  # created by the owner, tagged once by the automation


def test_add_tag_on_a_contact_event_tags_the_contact(org: Org, admin_conn: Any) -> None:
    contact, _ = create_contact(
        NewContact(name="Cy"), org.context, unit_of_work=org.db.unit_of_work, request={}
    )
    event = CloudEvent(
        type="crm.contact.created", tenant_id=org.id, subject=f"contacts/{contact['id']}",
        data={"contact": contact},
    )  # fmt: skip
    result = org.run(org.payload(event, {"kind": "add_tag", "tag": "vip"}))
    assert result["contact"] == contact["id"] and result["tags"] == ["vip"]
    assert "crm.contact.tagged" in outbox_types(admin_conn, org, f"contacts/{contact['id']}")


def test_a_tag_the_lead_already_has_changes_nothing_but_records_the_step(
    org: Org, admin_conn: Any
) -> None:
    lead = org.lead()
    org.run(org.payload(lead_event(org, lead), {"kind": "add_tag", "tag": "vip"}))
    payload = org.payload(lead_event(org, lead), {"kind": "add_tag", "tag": "vip"})
    assert org.run(payload)["tags"] == ["vip"]
    assert len(ledger(admin_conn, payload)) == 1
    after = get_lead(uuid.UUID(lead["id"]), org.owner, unit_of_work=org.db.unit_of_work)
    assert after["version"] == lead["version"] + 1  # one change only


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ({"kind": "add_tag", "tag": "unknown"}, "no tag named 'unknown'"),
        ({"kind": "add_tag", "tag": ""}, "invalid action config"),
    ],
)
def test_a_refused_tag_fails_the_step_and_writes_nothing(
    org: Org, admin_conn: Any, action: dict[str, Any], message: str
) -> None:
    lead = org.lead()
    payload = org.payload(lead_event(org, lead), action)
    with pytest.raises(ActionFailed, match=message):
        org.run(payload)
    assert ledger(admin_conn, payload) == []
    after = get_lead(uuid.UUID(lead["id"]), org.owner, unit_of_work=org.db.unit_of_work)
    assert after["tags"] == [] and after["version"] == lead["version"]


def test_add_tag_fails_for_a_deleted_lead_another_tenants_lead_and_a_deal_event(
    db: PostgresDatabase, org: Org, admin_conn: Any
) -> None:
    from crm.services.leads import delete_lead

    gone = org.lead()
    delete_lead(uuid.UUID(gone["id"]), org.context, unit_of_work=db.unit_of_work)
    foreign_org = Org(db)
    foreign = foreign_org.lead()
    cases = [
        (lead_event(org, gone), "not found"),
        # The event claims this tenant but names the other tenant's lead: RLS hides it.
        (lead_event(org, foreign), "not found"),
        (deal_event(org, org.deal()), "needs a lead or contact event"),
    ]
    for event, message in cases:
        payload = org.payload(event, {"kind": "add_tag", "tag": "vip"})
        with pytest.raises(ActionFailed, match=message):
            org.run(payload)
        assert ledger(admin_conn, payload) == []
    still = get_lead(uuid.UUID(foreign["id"]), foreign_org.owner, unit_of_work=db.unit_of_work)
    assert still["tags"] == []


def test_effect_and_ledger_row_commit_together(org: Org, admin_conn: Any) -> None:
    """A commit that fails after the effect was written leaves neither the tag nor the ledger
    row; the retry then tags once."""
    lead = org.lead()
    payload = org.payload(lead_event(org, lead), {"kind": "add_tag", "tag": "vip"})

    @contextmanager
    def commit_lost(tenant_id: uuid.UUID) -> Iterator[Any]:
        with org.db.unit_of_work(tenant_id) as uow:

            def lost() -> None:
                raise ConnectionError("the connection dropped at commit")

            uow.commit = lost  # type: ignore[method-assign]
            yield uow

    with pytest.raises(ConnectionError):
        execute_step(payload, unit_of_work=commit_lost, webhooks=NoWebhooks())
    assert ledger(admin_conn, payload) == []
    assert (
        get_lead(uuid.UUID(lead["id"]), org.owner, unit_of_work=org.db.unit_of_work)["tags"] == []
    )
    assert org.run(payload)["deduplicated"] is False
    assert org.run(payload)["deduplicated"] is True
    assert get_lead(uuid.UUID(lead["id"]), org.owner, unit_of_work=org.db.unit_of_work)["tags"] == [
        "vip"
    ]


# ------------------------------------------------------------------ move_stage


def move(org: Org, stage: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "move_stage",
        "pipeline_id": str(org.pipeline.id),
        "stage_id": org.stage(stage),
        **extra,
    }


def stays(admin_conn: Any, deal_id: str) -> list[tuple[Any, ...]]:
    rows = admin_conn.run(
        "SELECT stage_name, moved_by, reason, left_at IS NULL FROM deal_stage_history"
        " WHERE deal_id = :d ORDER BY entered_at, id",
        d=uuid.UUID(deal_id),
    )
    return [tuple(row) for row in rows]


def test_move_stage_moves_the_deal_once_with_its_stage_history_events_and_audit(
    org: Org, admin_conn: Any
) -> None:
    deal = org.deal()
    payload = org.payload(deal_event(org, deal), move(org, "Proposal"))

    first = org.run(payload)
    second = org.run(payload)

    assert first["status"] == "open" and first["stage_id"] == org.stage("Proposal")
    assert second == {**first, "deduplicated": True}
    after = get_deal(uuid.UUID(deal["id"]), org.owner, unit_of_work=org.db.unit_of_work)
    assert after["stage_id"] == org.stage("Proposal") and after["version"] == deal["version"] + 1
    assert stays(admin_conn, deal["id"]) == [
        ("Prospecting", org.owner.user_id, None, False),
        ("Proposal", org.automation_id, None, True),
    ]
    events = outbox_types(admin_conn, org, f"deals/{deal['id']}")
    assert events.count("crm.deal.stage_changed") == 1
    assert [row[:3] for row in audit_rows(admin_conn, org, deal["id"])] == [
        ("deal.created", "user", org.owner.user_id),
        ("deal.stage_changed", "automation", org.automation_id),
    ]
    assert [row[0] for row in ledger(admin_conn, payload)] == ["move_stage"]


def test_a_lost_stage_needs_the_actions_lost_reason(org: Org, admin_conn: Any) -> None:
    deal = org.deal()
    refused = org.payload(deal_event(org, deal), move(org, "Lost"))
    with pytest.raises(ActionFailed, match="lost_reason: required when moving to a lost stage"):
        org.run(refused)
    assert ledger(admin_conn, refused) == []
    assert (
        get_deal(uuid.UUID(deal["id"]), org.owner, unit_of_work=org.db.unit_of_work)["status"]
        == "open"
    )

    result = org.run(org.payload(deal_event(org, deal), move(org, "Lost", lost_reason="budget")))
    assert result["status"] == "lost"
    assert stays(admin_conn, deal["id"])[-1] == ("Lost", org.automation_id, "budget", True)
    assert "crm.deal.lost" in outbox_types(admin_conn, org, f"deals/{deal['id']}")


def test_move_stage_into_a_won_stage_emits_won(org: Org, admin_conn: Any) -> None:
    deal = org.deal()
    assert org.run(org.payload(deal_event(org, deal), move(org, "Won")))["status"] == "won"
    assert "crm.deal.won" in outbox_types(admin_conn, org, f"deals/{deal['id']}")


def test_move_stage_to_the_stage_the_deal_is_in_changes_nothing(org: Org, admin_conn: Any) -> None:
    deal = org.deal()
    org.run(org.payload(deal_event(org, deal), move(org, "Prospecting")))
    assert len(stays(admin_conn, deal["id"])) == 1
    assert outbox_types(admin_conn, org, f"deals/{deal['id']}") == ["crm.deal.created"]


def test_move_stage_failures_write_nothing(db: PostgresDatabase, org: Org, admin_conn: Any) -> None:
    deal = org.deal()
    gone = org.deal()
    delete_deal(uuid.UUID(gone["id"]), org.context, unit_of_work=db.unit_of_work)
    other = Org(db)
    cases = [
        (deal_event(org, gone), move(org, "Proposal"), "not found"),
        (deal_event(org, other.deal()), move(org, "Proposal"), "not found"),
        (lead_event(org, org.lead()), move(org, "Proposal"), "needs a deal event"),
        (deal_event(org, deal), {**move(org, "Proposal"), "stage_id": org.pipeline.id.hex[:8]},
         "stage_id .* is not an id"),
        # a stage of the other tenant's pipeline is no stage of this deal's pipeline
        (deal_event(org, deal), {**move(org, "Proposal"), "stage_id": other.stage("Won")},
         "not a stage of the deal's pipeline"),
        (deal_event(org, deal), {**move(org, "Proposal"), "pipeline_id": str(uuid.uuid4())},
         "no pipeline with this id"),
    ]  # fmt: skip
    for event, action, message in cases:
        payload = org.payload(event, action)
        with pytest.raises(ActionFailed, match=message):
            org.run(payload)
        assert ledger(admin_conn, payload) == []
    assert len(stays(admin_conn, deal["id"])) == 1


# ------------------------------------------------------------------ send_email


class Ses:
    """SES v2 on embedded moto, through the project's adapter, with its sent messages."""

    def __init__(self) -> None:
        client = boto3.client("sesv2", region_name=REGION)
        client.create_email_identity(EmailIdentity=SENDER)
        self.mailer = SesMailer(client, SENDER)

    @property
    def sent(self) -> list[Any]:
        return list(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)


@pytest.fixture()
def ses(monkeypatch: pytest.MonkeyPatch) -> Iterator[Ses]:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield Ses()


WELCOME = {
    "kind": "send_email",
    "to": "{{lead.email}}",
    "subject": "Welcome, {{lead.name}}",
    "body": "Hello {{lead.name}} from {{lead.company}}!",
}


def emails_used(admin_conn: Any, org: Org) -> int:
    rows = admin_conn.run(
        "SELECT coalesce(sum(used), 0) FROM usage_counters WHERE tenant_id = :t"
        " AND metric = 'emails_per_day'",
        t=org.id,
    )
    return int(rows[0][0])


def test_send_email_sends_one_rendered_mail_and_records_its_message_id(
    org: Org, admin_conn: Any, ses: Ses
) -> None:
    lead = org.lead("Ana Lima", email="ana.lima@example.com")
    payload = org.payload(lead_event(org, lead), WELCOME)

    first = org.run(payload, ses.mailer)
    second = org.run(payload, ses.mailer)

    assert first["to"] == "ana.lima@example.com" and first["message_id"]
    assert second == {**first, "deduplicated": True}
    [message] = ses.sent
    assert message.destinations["ToAddresses"] == ["ana.lima@example.com"]
    assert message.subject == "Welcome, Ana Lima"
    assert message.body == "Hello Ana Lima from !"
    assert message.id == first["message_id"]
    [(kind, result)] = ledger(admin_conn, payload)
    assert kind == "send_email" and result["message_id"] == first["message_id"]
    assert emails_used(admin_conn, org) == 1


def test_a_fixed_recipient_needs_no_email_on_the_lead(org: Org, ses: Ses) -> None:
    lead = org.lead()
    action = {**WELCOME, "to": "sales@example.com"}
    assert org.run(org.payload(lead_event(org, lead), action), ses.mailer)["to"] == (
        "sales@example.com"
    )
    assert len(ses.sent) == 1


def test_a_spent_daily_quota_fails_the_step_and_sends_nothing(
    org: Org, admin_conn: Any, ses: Ses
) -> None:
    with org.db.unit_of_work(org.id) as uow:
        consume_quota(uow, Metric.EMAILS_PER_DAY, 100)  # the free plan's day
        uow.commit()
    payload = org.payload(lead_event(org, org.lead()), WELCOME)
    with pytest.raises(ActionFailed, match="allows 100 emails per day"):
        org.run(payload, ses.mailer)
    assert ses.sent == [] and ledger(admin_conn, payload) == []
    assert emails_used(admin_conn, org) == 100


@pytest.mark.parametrize(
    ("lead_fields", "action", "message"),
    [
        ({"name": "Ana\nBcc: all@example.com"}, WELCOME, "line break"),
        ({"name": "Ana"}, {**WELCOME, "to": "{{lead.phone}}"}, "is not one email address"),
        ({"name": "Ana"}, {**WELCOME, "body": "{{lead.nickname}}"}, "names nothing"),
        ({"name": "Ana"}, {**WELCOME, "subject": "a\r\nb"}, "invalid action config"),
    ],
)
def test_a_mail_that_cannot_be_rendered_safely_fails_the_step(
    org: Org,
    admin_conn: Any,
    ses: Ses,
    lead_fields: dict[str, Any],
    action: dict[str, Any],
    message: str,
) -> None:
    lead = org.lead(**lead_fields)
    payload = org.payload(lead_event(org, lead), action)
    with pytest.raises(ActionFailed, match=message):
        org.run(payload, ses.mailer)
    assert ses.sent == [] and ledger(admin_conn, payload) == []
    assert emails_used(admin_conn, org) == 0


def test_a_refused_send_leaves_no_ledger_row_so_the_retry_sends(
    org: Org, admin_conn: Any, ses: Ses
) -> None:
    payload = org.payload(lead_event(org, org.lead()), WELCOME)
    unverified = SesMailer(boto3.client("sesv2", region_name=REGION), "nobody@unverified.test")
    with pytest.raises(UpstreamUnavailable):
        org.run(payload, unverified)
    assert ledger(admin_conn, payload) == [] and emails_used(admin_conn, org) == 0

    org.run(payload, ses.mailer)
    org.run(payload, ses.mailer)
    assert len(ses.sent) == 1 and emails_used(admin_conn, org) == 1
