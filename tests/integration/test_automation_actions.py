"""The record actions of automation_step (add_tag, move_stage, send_email) on the real
PostgreSQL as the app role, with mail through the SES adapter on embedded moto: each effect
and its ledger row commit in one transaction, a second execution of the same (run, step) does
nothing, and a refused action fails the step with nothing written."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from crm.adapters.postgres.unit_of_work import PostgresDatabase
from crm.domain.automation_actions import ActionFailed
from crm.domain.events import CloudEvent
from crm.domain.tenants import Principal, Role
from crm.services.automation_runtime import execute_step
from crm.services.contacts import NewContact, create_contact
from crm.services.deals import NewDeal, create_deal
from crm.services.leads import NewLead, create_lead, get_lead
from crm.services.pipelines import add_default_pipeline
from crm.services.request_context import RequestContext
from crm.services.taxonomy import create_tag

from tests.conftest import make_tenant

pytestmark = pytest.mark.integration

SENDER = "no-reply@crm.local"
REGION = "us-east-1"


class NoWebhooks:
    def send(self, *args: Any, **kwargs: Any) -> int:
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
