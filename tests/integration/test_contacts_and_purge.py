"""Contacts, lead conversion and the purge on the real PostgreSQL: a conversion is one
transaction (a failing deal leaves no contact behind), the purge finds tenants through the
housekeeping role and deletes as the app role (history and search rows cascade, deals let go,
usage counters follow), and the search table stays out of the app role's reach."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pg8000.native
import pytest
from crm.adapters.postgres.connection import ConnectionPool, connect
from crm.adapters.postgres.housekeeping import PostgresExpiredRecords
from crm.adapters.postgres.unit_of_work import PostgresDatabase
from crm.domain.errors import Conflict, ValidationFailed
from crm.domain.pagination import PageRequest
from crm.domain.records import RecordFilters, RecordKind, RecordSort
from crm.services.contacts import (
    NewContact,
    create_contact,
    delete_contact,
    list_contacts,
    update_contact,
)
from crm.services.deals import NewDeal, create_deal
from crm.services.leads import Conversion, convert_lead, delete_lead, get_lead
from crm.services.pipelines import add_default_pipeline
from crm.services.purge import purge_expired_records

from tests.integration.test_leads import Org

pytestmark = pytest.mark.integration


@pytest.fixture()
def org(db: PostgresDatabase, admin_conn: Any) -> Org:
    made = Org(db, admin_conn, "contacts")
    with db.unit_of_work(made.id) as uow:
        add_default_pipeline(uow, made.id, made.owner.user_id)
        uow.commit()
    return made


def _contact(org: Org, **fields: Any) -> dict[str, Any]:
    body, _ = create_contact(
        NewContact(**{"name": "Contact", **fields}), org.ctx(), unit_of_work=org.uow, request={}
    )
    return body


def _count(admin: Any, table: str, tenant: uuid.UUID) -> int:
    return int(admin.run(f"SELECT count(*) FROM {table} WHERE tenant_id = :t", t=tenant)[0][0])


def test_a_conversion_is_one_transaction(org: Org, admin_conn: Any) -> None:
    lead = org.lead(name="Lead", email="lead@x.io")
    failing = Conversion(deal=NewDeal(title="x", pipeline_id=uuid.uuid4()))
    with pytest.raises(ValidationFailed):
        convert_lead(
            uuid.UUID(lead["id"]), failing, org.ctx(), unit_of_work=org.uow, request={"n": 1}
        )
    assert _count(admin_conn, "contacts", org.id) == 0
    assert get_lead(uuid.UUID(lead["id"]), org.owner, unit_of_work=org.uow)["status"] == "new"
    result, _ = convert_lead(
        uuid.UUID(lead["id"]),
        Conversion(deal=NewDeal(title="Order", value=Decimal("10.00"))),
        org.ctx(),
        unit_of_work=org.uow,
        request={"n": 2},
    )
    assert result["contact"]["email"] == "lead@x.io"
    assert result["deal"]["contact_id"] == result["contact"]["id"]
    with pytest.raises(Conflict):
        convert_lead(
            uuid.UUID(lead["id"]), Conversion(), org.ctx(), unit_of_work=org.uow, request={}
        )


def test_contact_duplicates_and_history(org: Org) -> None:
    first = _contact(org, email="c@x.io", phone="+1 555 0100")
    with pytest.raises(Conflict) as clash:
        _contact(org, phone="15550100")
    assert clash.value.extra["existing"] == f"/contacts/{first['id']}"
    updated = update_contact(
        uuid.UUID(first["id"]), {"job_title": "CTO"}, org.ctx(), unit_of_work=org.uow
    )
    assert updated["version"] == 2
    page = list_contacts(
        org.owner,
        RecordFilters(q="cto"),
        RecordSort(RecordKind.CONTACT),
        PageRequest(),
        unit_of_work=org.uow,
    )
    assert [c.id for c in page.items] == [uuid.UUID(first["id"])]


def test_the_purge_deletes_expired_records_only(
    org: Org, db: PostgresDatabase, admin_conn: Any, migrated: Any
) -> None:
    old_lead, new_lead = org.lead(name="Old"), org.lead(name="New")
    contact = _contact(org, name="Old contact")
    deal, _ = create_deal(
        NewDeal(title="D", lead_id=uuid.UUID(old_lead["id"]), contact_id=uuid.UUID(contact["id"])),
        org.ctx(),
        unit_of_work=org.uow,
        request={},
    )
    for lead in (old_lead, new_lead):
        delete_lead(uuid.UUID(lead["id"]), org.ctx(), unit_of_work=org.uow)
    delete_contact(uuid.UUID(contact["id"]), org.ctx(), unit_of_work=org.uow)
    for table, row in (("leads", old_lead), ("contacts", contact)):
        admin_conn.run(
            f"UPDATE {table} SET deleted_at = now() - interval '31 days'"
            " WHERE id = CAST(:id AS uuid)",
            id=row["id"],
        )
    usage_before = admin_conn.run(
        "SELECT used FROM usage_counters WHERE tenant_id = :t AND metric = 'leads'", t=org.id
    )[0][0]
    relay_pool = ConnectionPool(migrated.relay_url, size=1)
    try:
        outcome = purge_expired_records(
            PostgresExpiredRecords(relay_pool), unit_of_work=db.unit_of_work, now=datetime.now(UTC)
        )
    finally:
        relay_pool.close()
    assert outcome.leads >= 1 and outcome.contacts >= 1
    remaining = {row[0] for row in admin_conn.run(
        "SELECT name FROM leads WHERE tenant_id = :t", t=org.id)}  # fmt: skip
    assert remaining == {"New"}
    assert _count(admin_conn, "contacts", org.id) == 0
    for table, column in (("record_history", "lead_id"), ("lead_search", "id")):
        orphans = admin_conn.run(
            f"SELECT count(*) FROM {table} WHERE {column} = CAST(:id AS uuid)", id=old_lead["id"]
        )
        assert orphans == [[0]], table
    kept = admin_conn.run(
        "SELECT lead_id, contact_id FROM deals WHERE id = CAST(:id AS uuid)", id=deal["id"]
    )
    assert kept == [[None, None]]
    usage_after = admin_conn.run(
        "SELECT used FROM usage_counters WHERE tenant_id = :t AND metric = 'leads'", t=org.id
    )[0][0]
    assert usage_after == usage_before - 1


def test_the_app_role_cannot_read_the_search_tables(org: Org, migrated: Any) -> None:
    org.lead(name="Secret")
    conn = connect(migrated.app_url)
    try:
        conn.run("BEGIN")
        conn.run("SELECT set_config('app.tenant_id', :t, true)", t=str(org.id))
        for table in ("lead_search", "contact_search"):
            with pytest.raises(pg8000.native.DatabaseError, match="permission denied"):
                conn.run(f"SELECT * FROM {table}")
            conn.run("ROLLBACK")
            conn.run("BEGIN")
        # through the function, only the transaction's tenant's ids
        conn.run("SELECT set_config('app.tenant_id', :t, true)", t=str(org.id))
        ids = conn.run("SELECT crm_search_records('lead', ARRAY['secret'], '{}', '{}', 10)")
        assert len(ids) == 1
        conn.run("SELECT set_config('app.tenant_id', :t, true)", t=str(uuid.uuid4()))
        assert conn.run("SELECT crm_search_records('lead', ARRAY['secret'], '{}', '{}', 10)") == []
    finally:
        conn.close()
