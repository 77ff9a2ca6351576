"""Each leads route's handler time (in-process, no gateway) vs the exact SQL it issues, replayed
bare on one connection in the same run; statements and round trips per request.

The leads API function is imported as Lambda imports it and called with API Gateway proxy
events (the authorizer's context filled in), so the figure is the handler: the API gate's
admission, Powertools routing and validation, the services, the unit of work, the post-commit
publish. Every pg8000 call of one request is recorded (each `run` is one round trip); the
replay runs the same statements with the same parameters on one connection of the app role,
its COMMIT turned into ROLLBACK (the recorded request also rolled back, so the ids are free).

Run: .venv/bin/python bench/bench_route_sql.py [N]   (BENCH_SMOKE=1: a few requests)
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers/core")]

import pg8000.native  # noqa: E402
from crm.adapters.postgres.connection import ConnectionPool, connect  # noqa: E402
from crm.adapters.postgres.migrations import run_migrations  # noqa: E402
from crm.adapters.postgres.unit_of_work import PostgresDatabase  # noqa: E402
from crm.domain.audit import RequestMeta  # noqa: E402
from crm.domain.tenants import Role, Tenant, User  # noqa: E402
from crm.services.tenant_settings import initialise_tenant  # noqa: E402

from local.environment import IMPORT_PLACEHOLDER_ENV  # noqa: E402
from local.services import ensure_test_services  # noqa: E402

SMOKE = os.environ.get("BENCH_SMOKE") == "1"
ISSUED_AT = int(time.time())
TRANSACTION_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK"}


class Recorder:
    """Records every statement pg8000 runs while ``recording``; COMMIT becomes ROLLBACK."""

    def __init__(self) -> None:
        self.recording = False
        self.calls: list[tuple[str, dict[str, Any]]] = []
        run, prepared_run = pg8000.native.Connection.run, pg8000.native.PreparedStatement.run
        prepare = pg8000.native.Connection.prepare
        recorder = self

        def recorded_run(conn: Any, sql: str, stream: Any = None, types: Any = None, **p: Any):  # type: ignore[no-untyped-def]
            if recorder.recording:
                recorder.calls.append((sql, p))
                if sql.strip().upper() == "COMMIT":
                    sql = "ROLLBACK"
            return run(conn, sql, stream=stream, types=types, **p)

        def recorded_prepare(conn: Any, sql: str):  # type: ignore[no-untyped-def]
            statement = prepare(conn, sql)
            statement.bench_sql = sql
            return statement

        def recorded_prepared_run(statement: Any, stream: Any = None, **p: Any):  # type: ignore[no-untyped-def]
            if recorder.recording:
                recorder.calls.append((statement.bench_sql, p))
            return prepared_run(statement, stream=stream, **p)

        pg8000.native.Connection.run = recorded_run  # type: ignore[method-assign]
        pg8000.native.Connection.prepare = recorded_prepare  # type: ignore[method-assign]
        pg8000.native.PreparedStatement.run = recorded_prepared_run  # type: ignore[method-assign]

    def record(self, call: Callable[[], Any]) -> list[tuple[str, dict[str, Any]]]:
        self.calls, self.recording = [], True
        try:
            call()
        finally:
            self.recording = False
        return self.calls


def load_handler(env: dict[str, str]) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    os.environ.update(env)
    path = ROOT / "functions" / "api_leads" / "app.py"
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("bench_leads_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler  # type: ignore[no-any-return]


class Context:
    function_name = "LeadsApiFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:LeadsApiFunction"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def event(method: str, resource: str, path: str, auth: dict[str, str], body: str | None) -> dict:
    return {"resource": resource, "path": path, "httpMethod": method,
            "headers": {"Content-Type": "application/json"}, "multiValueHeaders": {},
            "queryStringParameters": None, "multiValueQueryStringParameters": None,
            "pathParameters": {"id": path.rsplit("/", 1)[-1]} if "{id}" in resource else None,
            "requestContext": {"requestId": "bench", "authorizer": auth, "resourcePath": resource,
                               "httpMethod": method, "stage": "local"},
            "body": body, "isBase64Encoded": False}  # fmt: skip


def timed(call: Callable[[], Any], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main(n: int) -> None:
    endpoints = ensure_test_services(ROOT)
    migrated = run_migrations(endpoints.admin_database_url)
    env = {**IMPORT_PLACEHOLDER_ENV, "DATABASE_URL": migrated.app_url,
           "AMQP_URL": endpoints.amqp_url, "OPENSEARCH_URL": endpoints.opensearch_url,
           "POWERTOOLS_SERVICE_NAME": "leads-api", "POWERTOOLS_METRICS_DISABLED": "true",
           "POWERTOOLS_LOG_LEVEL": "WARNING"}  # fmt: skip
    db = PostgresDatabase(ConnectionPool(migrated.app_url, size=2))
    tenant = Tenant(name="Bench", slug=f"routes-{uuid.uuid4().hex[:8]}", plan="enterprise")
    owner = User(tenant.id, f"owner@{tenant.slug}.example.com", "Owner", "h", Role.OWNER)
    session_id = uuid.uuid4()
    with db.unit_of_work(tenant.id) as uow:
        uow.tenants.add(tenant)
        uow.users.add(owner, tenant_slug=tenant.slug)
        initialise_tenant(uow, tenant, owner, RequestMeta())
        uow.refresh_tokens.start_family(
            session_id, owner.id, ("pwd",), datetime.now(UTC) + timedelta(days=1), RequestMeta()
        )
        uow.commit()
    auth = {"tenant_id": str(tenant.id), "user_id": str(owner.id), "role": "owner",
            "issued_at": str(ISSUED_AT), "session_id": str(session_id)}  # fmt: skip
    recorder = Recorder()
    handler = load_handler(env)
    context = Context()

    def call(e: dict[str, Any], status: int) -> Callable[[], None]:
        def run() -> None:
            result = handler(e, context)
            assert result["statusCode"] == status, result

        return run

    created = handler(event("POST", "/leads", "/leads", auth, '{"name": "Read me"}'), context)
    assert created["statusCode"] == 201, created
    lead_id = json.loads(created["body"])["id"]
    routes = {
        "GET /leads/{id}": call(event("GET", "/leads/{id}", f"/leads/{lead_id}", auth, None), 200),
        "GET /leads": call(event("GET", "/leads", "/leads", auth, None), 200),
        "POST /leads": call(event("POST", "/leads", "/leads", auth, '{"name": "Bench"}'), 201),
    }
    bare = connect(migrated.app_url)
    rows = []
    for name, route in routes.items():
        timed(route, 10)  # warm: imports, pools, prepared statements
        statements = recorder.record(route)

        def replay(statements: list[tuple[str, dict[str, Any]]] = statements) -> None:
            for sql, params in statements:
                bare.run("ROLLBACK" if sql.strip().upper() == "COMMIT" else sql, **params)

        replay()
        handler_ms = statistics.median(timed(route, n))
        sql_ms = statistics.median(timed(replay, n))
        data = [s for s, _ in statements if s.strip().upper() not in TRANSACTION_CONTROL]
        rows.append((name, handler_ms, sql_ms, len(data), len(statements)))
        if os.environ.get("BENCH_SHOW_SQL") == "1":
            for sql, _ in statements:
                print(f"  {name}: {' '.join(sql.split())[:110]}")
    bare.close()
    print(f"{'route':<18}{'handler p50':>13}{'its SQL p50':>13}{'ratio':>8}"
          f"{'statements':>12}{'round trips':>13}")  # fmt: skip
    for name, handler_ms, sql_ms, statements_n, trips in rows:
        print(f"{name:<18}{handler_ms:>10.2f} ms{sql_ms:>10.2f} ms{handler_ms / sql_ms:>7.1f}x"
              f"{statements_n:>12}{trips:>13}")  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else (10 if SMOKE else 200))
