"""Row-level security, checked as the app role with bare SQL: the database itself isolates
tenants, whatever the code above it forgets."""

from __future__ import annotations

import uuid

import pg8000.native
import pytest
from crm.adapters.postgres.connection import ConnectionPool, connect
from crm.adapters.postgres.migrations import MigrationResult
from crm.adapters.postgres.unit_of_work import PostgresDatabase, begin_for_tenant
from crm.domain.errors import TenantNotSet
from crm.domain.leads import Lead

from tests.conftest import make_tenant

pytestmark = pytest.mark.integration

TENANT_TABLES = [
    "tenants",
    "users",
    "leads",
    "automations",
    "automation_versions",
    "automation_runs",
    "action_executions",
    "outbox",
    "idempotency_keys",
]


@pytest.fixture()
def two_tenants_with_data(db: PostgresDatabase):
    tenant_a, _ = make_tenant(db, "rls-a")
    tenant_b, _ = make_tenant(db, "rls-b")
    with db.unit_of_work(tenant_a.id) as uow:
        lead = Lead(tenant_id=tenant_a.id, name="Only A sees me", email="a@example.com")
        uow.leads.add(lead)
        uow.add_event(lead.created_event())
        uow.idempotency.put("key-1", "hash", 201, {"id": str(lead.id)})
        uow.commit()
    return tenant_a, tenant_b, lead


def _rows_visible(conn: pg8000.native.Connection, table: str, tenant_column: str) -> set[str]:
    return {str(row[0]) for row in conn.run(f"SELECT {tenant_column} FROM {table}")}


def test_every_tenant_table_forces_row_level_security(admin_conn) -> None:
    rows = admin_conn.run(
        "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class"
        " WHERE relname = ANY(:names) AND relkind = 'r'",
        names=TENANT_TABLES,
    )
    assert {name: (enabled, forced) for name, enabled, forced in rows} == {
        name: (True, True) for name in TENANT_TABLES
    }


def test_app_role_owns_no_table_and_cannot_bypass_rls(admin_conn) -> None:
    owned = admin_conn.run(
        "SELECT count(*) FROM pg_tables WHERE tableowner IN ('crm_app', 'crm_relay')"
    )
    bypass = admin_conn.run(
        "SELECT rolname FROM pg_roles WHERE rolname IN ('crm_app', 'crm_relay')"
        " AND (rolbypassrls OR rolsuper)"
    )
    assert owned == [[0]]
    assert bypass == []


def test_other_tenant_sees_none_of_the_rows_with_bare_select(
    two_tenants_with_data, migrated: MigrationResult
) -> None:
    tenant_a, tenant_b, _ = two_tenants_with_data
    conn = connect(migrated.app_url)
    try:
        begin_for_tenant(conn, tenant_b.id)
        for table in TENANT_TABLES:
            column = "id" if table == "tenants" else "tenant_id"
            assert str(tenant_a.id) not in _rows_visible(conn, table, column), table
            assert _rows_visible(conn, table, column) <= {str(tenant_b.id)}, table
        conn.run("ROLLBACK")
        begin_for_tenant(conn, tenant_a.id)
        assert _rows_visible(conn, "leads", "tenant_id") == {str(tenant_a.id)}
        conn.run("ROLLBACK")
    finally:
        conn.close()


def test_no_tenant_setting_sees_nothing(two_tenants_with_data, migrated: MigrationResult) -> None:
    conn = connect(migrated.app_url)
    try:
        for table in TENANT_TABLES:
            assert conn.run(f"SELECT count(*) FROM {table}") == [[0]], table
    finally:
        conn.close()


def test_tenant_setting_does_not_outlive_its_transaction(
    two_tenants_with_data, migrated: MigrationResult
) -> None:
    tenant_a, _, _ = two_tenants_with_data
    conn = connect(migrated.app_url)
    try:
        begin_for_tenant(conn, tenant_a.id)
        conn.run("COMMIT")
        assert conn.run("SELECT count(*) FROM leads") == [[0]]
    finally:
        conn.close()


def test_writing_a_row_for_another_tenant_is_rejected(two_tenants_with_data, db) -> None:
    tenant_a, tenant_b, _ = two_tenants_with_data
    with (
        pytest.raises(pg8000.native.DatabaseError, match="row-level security"),
        db.unit_of_work(tenant_b.id) as uow,
    ):
        uow.leads.add(Lead(tenant_id=tenant_a.id, name="smuggled"))


def test_app_role_cannot_disable_rls_or_read_the_login_directory(migrated: MigrationResult) -> None:
    conn = connect(migrated.app_url)
    try:
        with pytest.raises(pg8000.native.DatabaseError, match="must be owner"):
            conn.run("ALTER TABLE leads DISABLE ROW LEVEL SECURITY")
        with pytest.raises(pg8000.native.DatabaseError, match="permission denied"):
            conn.run("SELECT * FROM login_directory")
    finally:
        conn.close()


def test_relay_role_reads_every_tenants_outbox_but_no_tenant_data(
    two_tenants_with_data, migrated: MigrationResult
) -> None:
    tenant_a, _, _ = two_tenants_with_data
    conn = connect(migrated.relay_url)
    try:
        tenants_in_outbox = _rows_visible(conn, "outbox", "tenant_id")
        assert str(tenant_a.id) in tenants_in_outbox
        with pytest.raises(pg8000.native.DatabaseError, match="permission denied"):
            conn.run("SELECT * FROM leads")
    finally:
        conn.close()


def test_unit_of_work_fails_closed_without_a_valid_tenant(app_pool: ConnectionPool) -> None:
    db = PostgresDatabase(app_pool)
    with pytest.raises(TenantNotSet):
        db.unit_of_work("not-a-uuid")  # type: ignore[arg-type]
    with db.unit_of_work(uuid.uuid4()) as uow:
        # A tenant that does not exist is scoped like any other: it simply sees nothing.
        assert uow.leads.get(uuid.uuid4()) is None
