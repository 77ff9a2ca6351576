"""The connection pool hands out a live connection after the server dropped an idle one (a
restart, a proxy's idle timeout): the request does not fail on a connection nobody used."""

from __future__ import annotations

from typing import Any

import pytest
from crm.adapters.postgres import connection
from crm.adapters.postgres.connection import ConnectionPool
from crm.adapters.postgres.migrations import MigrationResult

pytestmark = pytest.mark.integration


def _backend_pid(pool: ConnectionPool) -> int:
    with pool.connection() as conn:
        pid: int = conn.run("SELECT pg_backend_pid()")[0][0]
    return pid


def test_an_idle_connection_the_server_dropped_is_replaced(
    migrated: MigrationResult, admin_conn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = ConnectionPool(migrated.app_url, size=1)
    try:
        dropped = _backend_pid(pool)
        admin_conn.run("SELECT pg_terminate_backend(:pid)", pid=dropped)
        monkeypatch.setattr(connection, "IDLE_CHECK_SECONDS", 0.0)  # it counts as idle now
        with pool.connection() as conn:
            assert conn.run("SELECT 1") == [[1]]
            assert conn.run("SELECT pg_backend_pid()")[0][0] != dropped
    finally:
        pool.close()


def test_a_recently_used_connection_is_handed_out_without_a_check(
    migrated: MigrationResult,
) -> None:
    pool = ConnectionPool(migrated.app_url, size=1)
    try:
        first = _backend_pid(pool)
        assert _backend_pid(pool) == first  # reused, the same backend
    finally:
        pool.close()
