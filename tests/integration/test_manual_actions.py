"""POST /actions' service on the real PostgreSQL as the app role: the effect through the
automation action code with the user as the actor, once per Idempotency-Key (a replay writes
nothing), refusals (unknown tag, stage of another pipeline, wrong record kind, no key) write
nothing, a seller cannot reach another seller's lead and another tenant's record is 404."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from crm.adapters.postgres.unit_of_work import PostgresDatabase
from crm.automation.model import AddTagAction, MoveStageAction, SendEmailAction
from crm.domain.errors import Forbidden, NotFound, ValidationFailed
from crm.domain.tenants import Principal, Role
from crm.services.automation_simulation import RecordRef
from crm.services.manual_actions import ActionRefused, run_manual_action
from crm.services.request_context import RequestContext

from tests.integration.test_automation_actions import Org

pytestmark = pytest.mark.integration

VIP = AddTagAction(kind="add_tag", tag="vip")


def _counts(admin_conn: Any, tenant_id: uuid.UUID) -> tuple[int, ...]:
    return tuple(
        admin_conn.run(f"SELECT count(*) FROM {table} WHERE tenant_id = :t", t=tenant_id)[0][0]
        for table in (
            "audit_log",
            "record_history",
            "outbox",
            "deal_stage_history",
            "idempotency_keys",
        )
    )


def _run(org: Org, action: Any, kind: str, record_id: Any, key: str | None = "k1", who: Any = None):  # type: ignore[no-untyped-def]
    return run_manual_action(
        action,
        RecordRef(kind, uuid.UUID(str(record_id))),  # type: ignore[arg-type]
        RequestContext(who or org.owner, correlation_id="manual"),
        idempotency_key=key,
        unit_of_work=org.db.unit_of_work,
    )


def test_add_tag_once_per_key_as_the_user(db: PostgresDatabase, admin_conn: Any) -> None:
    org = Org(db)
    lead = org.lead()
    before = _counts(admin_conn, org.id)

    first, replayed_first = _run(org, VIP, "lead", lead["id"])
    middle = _counts(admin_conn, org.id)
    second, replayed_second = _run(org, VIP, "lead", lead["id"])

    assert (replayed_first, replayed_second) == (False, True)
    assert first == second
    assert first["result"]["tags"] == ["vip"]
    assert _counts(admin_conn, org.id) == middle != before
    audit = admin_conn.run(
        "SELECT actor_type, actor_id FROM audit_log WHERE tenant_id = :t AND entity_id = :e"
        " AND action LIKE '%updated'",
        t=org.id,
        e=lead["id"],
    )
    assert audit == [["user", org.owner.user_id]]


def test_refusals_write_nothing(db: PostgresDatabase, admin_conn: Any) -> None:
    org = Org(db)
    lead, deal = org.lead(), org.deal()
    other = Org(db)
    before = _counts(admin_conn, org.id)

    with pytest.raises(ActionRefused, match="unknown tags"):
        _run(org, AddTagAction(kind="add_tag", tag="ghost"), "lead", lead["id"])
    foreign_stage = MoveStageAction(
        kind="move_stage", pipeline_id=str(other.pipeline.id), stage_id=other.stage("Proposal")
    )
    with pytest.raises(ValidationFailed):
        _run(org, foreign_stage, "deal", deal["id"], key="k2")
    with pytest.raises(ActionRefused, match="acts on a lead or contact"):
        _run(org, VIP, "deal", deal["id"], key="k3")
    mail = SendEmailAction(kind="send_email", to="a@b.io", subject="s", body="b")
    with pytest.raises(ActionRefused, match="cannot be run manually"):
        _run(org, mail, "lead", lead["id"], key="k4")
    with pytest.raises(ValidationFailed, match="Idempotency-Key"):
        _run(org, VIP, "lead", lead["id"], key=None)
    with pytest.raises(NotFound):
        _run(other, VIP, "lead", lead["id"], key="k5")

    assert _counts(admin_conn, org.id) == before


def test_roles_reach_only_what_they_may(db: PostgresDatabase, admin_conn: Any) -> None:
    org = Org(db)
    owned_by_someone = org.lead()
    admin_conn.run(
        "UPDATE leads SET owner_id = :o WHERE id = :id",
        o=org.owner.user_id,
        id=owned_by_someone["id"],
    )
    seller = Principal(org.id, uuid.uuid4(), Role.SELLER)
    viewer = Principal(org.id, uuid.uuid4(), Role.VIEWER)

    with pytest.raises(NotFound):
        _run(org, VIP, "lead", owned_by_someone["id"], who=seller)
    with pytest.raises(Forbidden):
        _run(org, VIP, "lead", owned_by_someone["id"], who=viewer)
