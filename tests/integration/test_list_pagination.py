"""Keyset pagination of the users, API keys, audit log and dead letters lists on real SQL:
paging with small pages returns every row once, in the list's order, including rows whose
sort values tie (the id breaks the tie: a UUID, or the audit log's bigint)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from crm.adapters.postgres.unit_of_work import PostgresDatabase
from crm.domain.api_keys import ApiKey
from crm.domain.audit import AuditEntry, RequestMeta
from crm.domain.dead_letters import DeadLetter
from crm.domain.pagination import Page, PageRequest
from crm.domain.tenants import Principal, Role, Tenant, User
from crm.services import api_keys, audit_logs, dead_letters, users

from tests.conftest import make_tenant

T = TypeVar("T")
TIED = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
ROWS = 7  # with pages of 2: three full pages and a short one


def every_page(fetch: Callable[[PageRequest], Page[T]], limit: int = 2) -> list[T]:
    """All items, page after page, each page asked for after the previous one's keyset."""
    items: list[T] = []
    page = fetch(PageRequest(limit))
    pages = 1
    while True:
        assert len(page.items) <= limit
        items.extend(page.items)
        if page.next is None:
            return items
        pages += 1
        assert pages <= ROWS + 2, "the listing does not end"
        page = fetch(PageRequest(limit, page.next))


def owner_of(tenant: Tenant, owner: User) -> Principal:
    return Principal(tenant_id=tenant.id, user_id=owner.id, role=Role.OWNER)


def tie(admin_conn: Any, table: str, column: str, tenant: Tenant) -> None:
    """Give every row of the tenant the same sort value, so only the id orders them."""
    admin_conn.run(
        f"UPDATE {table} SET {column} = :at WHERE tenant_id = :tenant",
        at=TIED,
        tenant=tenant.id,
    )


def test_users_page_oldest_first_through_ties(db: PostgresDatabase, admin_conn: Any) -> None:
    tenant, owner = make_tenant(db, "page-users")
    with db.unit_of_work(tenant.id) as uow:  # one transaction: the same created_at
        for i in range(ROWS - 1):
            member = User(tenant.id, f"u{i}-{uuid.uuid4().hex[:6]}@example.com", "U", "h", "viewer")
            uow.users.add(member, tenant_slug=tenant.slug)
        uow.commit()
    caller = owner_of(tenant, owner)

    def fetch(page: PageRequest) -> Page[Any]:
        return users.list_users(caller, page, unit_of_work=db.unit_of_work)

    paged = every_page(fetch)
    assert len(paged) == ROWS and len({m.id for m in paged}) == ROWS
    assert [(m.created_at, m.id) for m in paged] == sorted((m.created_at, m.id) for m in paged)
    tie(admin_conn, "users", "created_at", tenant)
    tied = every_page(fetch)
    assert [m.id for m in tied] == sorted(m.id for m in paged)


def test_api_keys_page_newest_first_through_ties(db: PostgresDatabase) -> None:
    tenant, owner = make_tenant(db, "page-keys")
    keys = [
        ApiKey(
            tenant_id=tenant.id,
            name=f"k{i}",
            scopes=frozenset({"leads:read"}),
            digest=uuid.uuid4().hex * 2,
            hint="abcd",
            created_by=owner.id,
            created_at=TIED - timedelta(seconds=i % 3),
        )
        for i in range(ROWS)
    ]
    with db.unit_of_work(tenant.id) as uow:
        for key in keys:
            uow.api_keys.add(key)
        uow.commit()
    caller = owner_of(tenant, owner)
    paged = every_page(
        lambda page: api_keys.list_api_keys(caller, page, unit_of_work=db.unit_of_work)
    )
    expected = sorted(keys, key=lambda k: (k.created_at, k.id), reverse=True)
    assert [k.id for k in paged] == [k.id for k in expected]


def test_the_audit_log_pages_newest_first_through_ties_on_its_bigint_id(
    db: PostgresDatabase, admin_conn: Any
) -> None:
    tenant, owner = make_tenant(db, "page-audit")
    caller = owner_of(tenant, owner)
    with db.unit_of_work(tenant.id) as uow:
        for i in range(ROWS):
            uow.audit.record(
                AuditEntry(
                    tenant_id=tenant.id,
                    action="user.updated",
                    actor_type="user",
                    actor_id=owner.id,
                    entity_type="user",
                    entity_id=str(i),
                    changes={},
                    meta=RequestMeta(),
                )
            )
        uow.commit()

    def fetch(page: PageRequest) -> Page[Any]:
        return audit_logs.list_audit_logs(
            caller, page, unit_of_work=db.unit_of_work, action="user.updated"
        )

    paged = every_page(fetch)
    assert [r.entity_id for r in paged] == [str(i) for i in reversed(range(ROWS))]
    assert all(isinstance(r.id, int) for r in paged)
    tie(admin_conn, "audit_log", "occurred_at", tenant)
    tied = every_page(fetch)
    assert [r.id for r in tied] == sorted((r.id for r in paged), reverse=True)


def test_dead_letters_page_newest_first_through_ties(db: PostgresDatabase, admin_conn: Any) -> None:
    tenant, owner = make_tenant(db, "page-dlq")
    caller = owner_of(tenant, owner)
    now = datetime.now(UTC)
    with db.unit_of_work(tenant.id) as uow:
        for _ in range(ROWS):
            uow.dead_letters.add(
                DeadLetter(
                    tenant_id=tenant.id,
                    consumer="analytics",
                    event_id=uuid.uuid4(),
                    event_type="crm.lead.created",
                    envelope={},
                    error="boom",
                    attempts=1,
                    first_failed_at=now,
                    last_failed_at=now,
                )
            )
        uow.commit()

    def fetch(page: PageRequest) -> Page[Any]:
        return dead_letters.list_dead_letters(caller, unit_of_work=db.unit_of_work, page=page)

    paged = every_page(fetch)
    assert len({d.id for d in paged}) == ROWS
    order = [(d.dead_lettered_at, d.id) for d in paged]
    assert order == sorted(order, reverse=True)
    tie(admin_conn, "dead_letters", "dead_lettered_at", tenant)
    tied = every_page(fetch)
    assert [d.id for d in tied] == sorted((d.id for d in paged), reverse=True)
