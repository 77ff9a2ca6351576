"""Shared fixtures. Integration and e2e tests get real servers: PostgreSQL, RabbitMQ and
OpenSearch of the "test" profile, started by the supervisor when they are not running yet
(never skipped), or the servers named by DATABASE_URL / AMQP_URL / OPENSEARCH_URL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from crm.adapters.postgres.connection import ConnectionPool, connect
from crm.adapters.postgres.migrations import MigrationResult, run_migrations
from crm.adapters.postgres.unit_of_work import PostgresDatabase
from crm.domain.tenants import Role, Tenant, User

from local.services import Endpoints, ensure_test_services
from tests.support import ROOT


@pytest.fixture(scope="session")
def endpoints() -> Endpoints:
    return ensure_test_services(ROOT)


@pytest.fixture(scope="session")
def migrated(endpoints: Endpoints) -> MigrationResult:
    return run_migrations(endpoints.admin_database_url)


@pytest.fixture(scope="session")
def app_pool(migrated: MigrationResult) -> Iterator[ConnectionPool]:
    pool = ConnectionPool(migrated.app_url, size=4)
    yield pool
    pool.close()


@pytest.fixture()
def db(app_pool: ConnectionPool) -> PostgresDatabase:
    return PostgresDatabase(app_pool)


@pytest.fixture()
def admin_conn(endpoints: Endpoints, migrated: MigrationResult) -> Iterator[object]:
    conn = connect(endpoints.admin_database_url)
    yield conn
    conn.close()


def make_tenant(db: PostgresDatabase, slug_prefix: str = "t") -> tuple[Tenant, User]:
    tenant = Tenant(name="Test Co", slug=f"{slug_prefix}-{uuid.uuid4().hex[:10]}")
    owner = User(
        tenant_id=tenant.id,
        email=f"owner-{uuid.uuid4().hex[:8]}@example.com",
        name="Owner",
        password_hash="not-a-real-hash",
        role=Role.OWNER,
    )
    with db.unit_of_work(tenant.id) as uow:
        uow.tenants.add(tenant)
        uow.users.add(owner, tenant_slug=tenant.slug)
        uow.commit()
    return tenant, owner
