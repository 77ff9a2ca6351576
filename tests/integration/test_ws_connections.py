"""WebSocket connections on real PostgreSQL (app role, RLS): the connection lifecycle of the
ws handler's service, the notifier's listeners with their users' current role and status, and
tenant isolation (another tenant's unit of work neither sees nor deletes a connection)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pg8000.exceptions
import pytest
from crm.adapters.postgres.connection import connect
from crm.adapters.postgres.migrations import MigrationResult
from crm.adapters.postgres.unit_of_work import PostgresDatabase
from crm.domain.events import CloudEvent
from crm.domain.realtime import ConnectionGone
from crm.domain.tenants import Role, User
from crm.services import realtime

from tests.conftest import make_tenant

# connection ids are unique across tenants (API Gateway's): fresh ones per run
C_OWNER, C_KEY, C_SELLER, C_GONE = (f"{n}-{uuid.uuid4().hex[:8]}" for n in ("o", "k", "s", "g"))


def caller(tenant_id: uuid.UUID, user_id: uuid.UUID, **extra: str) -> realtime.ConnectionCaller:
    context = {"tenant_id": str(tenant_id), "user_id": str(user_id), **extra}
    return realtime.ConnectionCaller.from_context(context)


def add_seller(db: PostgresDatabase, tenant_id: uuid.UUID, slug: str) -> User:
    user = User(tenant_id=tenant_id, email=f"s-{uuid.uuid4().hex[:8]}@example.com", name="S",
                password_hash="x", role=Role.SELLER)  # fmt: skip
    with db.unit_of_work(tenant_id) as uow:
        uow.users.add(user, tenant_slug=slug)
        uow.commit()
    return user


def test_connect_listen_touch_and_disconnect(db: PostgresDatabase) -> None:
    tenant, owner = make_tenant(db, "ws")
    seller = add_seller(db, tenant.id, tenant.slug)
    key = uuid.uuid4()
    now = datetime.now(UTC)
    with db.unit_of_work(tenant.id) as uow:
        realtime.connect(uow, C_OWNER, caller(tenant.id, owner.id), now)
    with db.unit_of_work(tenant.id) as uow:
        realtime.connect(uow, C_OWNER, caller(tenant.id, owner.id), now)  # a retried $connect
    with db.unit_of_work(tenant.id) as uow:
        key_caller = caller(tenant.id, seller.id, api_key_id=str(key), scopes="leads:read")
        realtime.connect(uow, C_KEY, key_caller, now)
    with db.unit_of_work(tenant.id) as uow:
        rows = {r.connection_id: r for r in uow.ws_connections.listeners()}
        assert set(rows) == {C_OWNER, C_KEY}
        assert (rows[C_OWNER].role, rows[C_OWNER].scopes) == ("owner", None)
        assert rows[C_KEY].api_key_id == key and rows[C_KEY].scopes == {"leads:read"}
        assert uow.ws_connections.touch(C_OWNER, datetime.now(UTC))
        assert not uow.ws_connections.touch("nope", datetime.now(UTC))
        uow.commit()
    with db.unit_of_work(tenant.id) as uow:
        assert realtime.disconnect(uow, C_OWNER)
    with db.unit_of_work(tenant.id) as uow:
        assert not realtime.disconnect(uow, C_OWNER)  # a second $disconnect finds nothing
    with db.unit_of_work(tenant.id) as uow:
        assert [r.connection_id for r in uow.ws_connections.listeners()] == [C_KEY]


def test_listeners_follow_the_users_current_role_and_status(
    db: PostgresDatabase, admin_conn: Any
) -> None:
    tenant, _ = make_tenant(db, "ws-role")
    seller = add_seller(db, tenant.id, tenant.slug)
    with db.unit_of_work(tenant.id) as uow:
        realtime.connect(uow, C_SELLER, caller(tenant.id, seller.id), datetime.now(UTC))
    other_owner = uuid.uuid4()
    event = CloudEvent(type="crm.lead.created", tenant_id=tenant.id, subject="leads/1",
                       data={"lead": {"id": "1", "status": "new", "owner_id": str(other_owner)}})  # fmt: skip
    posts: list[str] = []

    class Sender:
        def post(self, connection_id: str, payload: bytes) -> None:
            posts.append(json.loads(payload)["subject"])

    def notify() -> None:
        with db.unit_of_work(tenant.id) as uow:
            realtime.notify(event, uow, audience=realtime.Audience(), sender=Sender())
            uow.commit()

    notify()
    assert posts == []  # a seller does not hear of another user's lead
    admin_conn.run("UPDATE users SET role = 'manager' WHERE id = :u", u=seller.id)
    notify()
    assert posts == ["leads/1"]  # the promotion applies to the open connection at once
    admin_conn.run("UPDATE users SET status = 'deactivated' WHERE id = :u", u=seller.id)
    notify()
    assert posts == ["leads/1"]  # a deactivated user's connection hears nothing


def test_a_gone_connection_is_deleted_in_the_notifiers_transaction(db: PostgresDatabase) -> None:
    tenant, owner = make_tenant(db, "ws-gone")
    with db.unit_of_work(tenant.id) as uow:
        realtime.connect(uow, C_GONE, caller(tenant.id, owner.id), datetime.now(UTC))

    class GoneSender:
        def post(self, connection_id: str, payload: bytes) -> None:
            raise ConnectionGone(connection_id)

    event = CloudEvent(type="crm.pipeline.created", tenant_id=tenant.id, subject="pipelines/1",
                       data={"pipeline": {"id": "1"}})  # fmt: skip
    with db.unit_of_work(tenant.id) as uow:
        report = realtime.notify(event, uow, audience=realtime.Audience(), sender=GoneSender())
        uow.commit()
    assert report.gone == 1
    with db.unit_of_work(tenant.id) as uow:
        assert uow.ws_connections.listeners() == []


def test_another_tenant_neither_sees_nor_deletes_a_connection(
    db: PostgresDatabase, migrated: MigrationResult
) -> None:
    a, a_owner = make_tenant(db, "ws-a")
    b, _ = make_tenant(db, "ws-b")
    with db.unit_of_work(a.id) as uow:
        realtime.connect(uow, f"c-{a.id}", caller(a.id, a_owner.id), datetime.now(UTC))
    with db.unit_of_work(b.id) as uow:
        assert uow.ws_connections.listeners() == []
        assert not uow.ws_connections.remove(f"c-{a.id}")
        assert not uow.ws_connections.touch(f"c-{a.id}", datetime.now(UTC))
        uow.commit()
    with db.unit_of_work(a.id) as uow:
        assert [r.connection_id for r in uow.ws_connections.listeners()] == [f"c-{a.id}"]
    # writing a row for another tenant is refused by the policy's WITH CHECK
    conn: Any = connect(migrated.app_url)
    try:
        conn.run("BEGIN")
        conn.run("SELECT set_config('app.tenant_id', :t, true)", t=str(b.id))
        with pytest.raises(pg8000.exceptions.DatabaseError):
            conn.run(
                "INSERT INTO ws_connections (connection_id, tenant_id, user_id)"
                " VALUES ('forged', :t, :u)",
                t=a.id,
                u=a_owner.id,
            )
        conn.run("ROLLBACK")
    finally:
        conn.close()
