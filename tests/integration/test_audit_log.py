"""The audit log is append-only for the app role and isolated per tenant."""

from __future__ import annotations

import pg8000.native
import pytest
from crm.adapters.postgres.connection import connect
from crm.adapters.postgres.migrations import MigrationResult
from crm.adapters.postgres.unit_of_work import PostgresDatabase, begin_for_tenant
from crm.domain.audit import AuditEntry, RequestMeta

from tests.conftest import make_tenant

pytestmark = pytest.mark.integration


def test_entries_are_written_in_the_unit_of_work_and_cannot_be_changed(
    db: PostgresDatabase, migrated: MigrationResult
) -> None:
    tenant, owner = make_tenant(db, "audit")
    other, _ = make_tenant(db, "audit-other")
    with db.unit_of_work(tenant.id) as uow:
        uow.audit.record(
            AuditEntry(
                tenant_id=tenant.id, action="lead.created", actor_id=owner.id, entity_type="lead",
                entity_id="42", changes={"name": {"old": None, "new": "A"}},
                meta=RequestMeta(ip="127.0.0.1", user_agent="pytest", request_id="r-1"),
            )
        )  # fmt: skip
        uow.commit()
    conn = connect(migrated.app_url)
    try:
        begin_for_tenant(conn, tenant.id)
        rows = conn.run("SELECT action, entity_id, host(ip), request_id FROM audit_log")
        assert rows == [["lead.created", "42", "127.0.0.1", "r-1"]]
        for statement in ("UPDATE audit_log SET action = 'x.y'", "DELETE FROM audit_log"):
            with pytest.raises(pg8000.native.DatabaseError, match="permission denied"):
                conn.run(statement)
            conn.run("ROLLBACK")
            begin_for_tenant(conn, tenant.id)
        conn.run("ROLLBACK")
        begin_for_tenant(conn, other.id)
        assert conn.run("SELECT count(*) FROM audit_log") == [[0]]
        conn.run("ROLLBACK")
    finally:
        conn.close()
