"""The API gate's cost per request vs the same route without it, same process, same database.

The gate (crm/api/gate.py) runs before every authenticated route: one call of
admit_api_request (count the request in the tenant's one-minute window, read the plan's limit
and the caller's current role, compare the access token's iat with the user's
tokens_valid_after and check its session is live), then the permission check, then the RateLimit-* headers.

Route measured: GET /tenants/{id}/settings (one unit of work: BEGIN, set_config, SELECT,
ROLLBACK), resolved in-process from an API Gateway proxy event, so HTTP and the authorizer
are left out and the difference is the gate alone. Baseline: the same handler on a plain
Powertools resolver. The two run interleaved in batches, so drift hits both alike.

Run: .venv/bin/python bench/bench_api_gate.py [N]   (starts the test servers if needed)
"""

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

from aws_lambda_powertools.event_handler import APIGatewayRestResolver  # noqa: E402
from crm.adapters.postgres.connection import ConnectionPool  # noqa: E402
from crm.adapters.postgres.migrations import run_migrations  # noqa: E402
from crm.adapters.postgres.tenancy import PostgresRequestAdmission  # noqa: E402
from crm.adapters.postgres.unit_of_work import PostgresDatabase  # noqa: E402
from crm.api.context import principal  # noqa: E402
from crm.api.problems import register_error_handlers  # noqa: E402
from crm.api.resolver import build_resolver  # noqa: E402
from crm.domain.audit import RequestMeta  # noqa: E402
from crm.domain.tenants import Role, Tenant, User  # noqa: E402
from crm.services.tenant_settings import get_settings, initialise_tenant  # noqa: E402

from bench.smoke import scaled  # noqa: E402
from local.services import ensure_test_services  # noqa: E402

BATCH = 100
ISSUED_AT = int(time.time())  # the access token's iat, as the authorizer passes it on


def with_route(app: APIGatewayRestResolver, db: PostgresDatabase) -> APIGatewayRestResolver:
    @app.get("/tenants/<tenant_id>/settings")
    def read_settings(tenant_id: str) -> dict[str, Any]:
        return get_settings(uuid.UUID(tenant_id), principal(app), unit_of_work=db.unit_of_work)

    return app


def event_for(tenant: Tenant, owner: User, session_id: uuid.UUID) -> dict[str, Any]:
    return {
        "resource": "/tenants/{id}/settings",
        "path": f"/tenants/{tenant.id}/settings",
        "httpMethod": "GET",
        "headers": {},
        "requestContext": {
            "requestId": "bench",
            "authorizer": {
                "tenant_id": str(tenant.id),
                "user_id": str(owner.id),
                "role": "owner",
                "issued_at": str(ISSUED_AT),
                "session_id": str(session_id),
            },
        },
        "body": None,
        "isBase64Encoded": False,
    }


def timed(call: Callable[[], Any], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]


def main(n: int) -> None:
    endpoints = ensure_test_services(ROOT)
    migrated = run_migrations(endpoints.admin_database_url)
    pool = ConnectionPool(migrated.app_url, size=2)
    db = PostgresDatabase(pool)
    # Enterprise: 6000 requests/minute, far above this run, so no request is refused.
    tenant = Tenant(name="Bench", slug=f"gate-{uuid.uuid4().hex[:8]}", plan="enterprise")
    owner = User(tenant.id, f"owner@{tenant.slug}.example.com", "Owner", "h", Role.OWNER)
    with db.unit_of_work(tenant.id) as uow:
        uow.tenants.add(tenant)
        uow.users.add(owner, tenant_slug=tenant.slug)
        initialise_tenant(uow, tenant, owner, RequestMeta())
        session_id = uuid.uuid4()  # the login's refresh-token family, which tokens name (sid)
        uow.refresh_tokens.start_family(
            session_id, owner.id, ("pwd",), datetime.now(UTC) + timedelta(days=1), RequestMeta()
        )
        uow.commit()

    admission = PostgresRequestAdmission(pool)
    plain = APIGatewayRestResolver(enable_validation=True)
    register_error_handlers(plain)
    plain = with_route(plain, db)
    gated = with_route(build_resolver(lambda: admission), db)
    event = event_for(tenant, owner, session_id)

    def call_plain() -> None:
        assert plain.resolve(event, None)["statusCode"] == 200  # type: ignore[arg-type]

    def call_gated() -> None:
        result = gated.resolve(event, None)  # type: ignore[arg-type]
        assert result["statusCode"] == 200, result["body"]

    def call_admission() -> None:
        admission.admit(tenant.id, owner.id, issued_at=ISSUED_AT, session_id=session_id)

    without_credential_check = "SELECT * FROM admit_api_request(CAST(:t AS uuid), CAST(:u AS uuid))"

    prepared: dict[int, Any] = {}  # per connection, as the adapter prepares its statement

    def call_admission_0004() -> None:  # the same minus the credential checks (0009, 0011)
        with pool.connection() as conn:
            statement = prepared.get(id(conn))
            if statement is None:
                statement = prepared[id(conn)] = conn.prepare(without_credential_check)
            statement.run(t=tenant.id, u=owner.id)

    for call in (call_plain, call_gated, call_admission, call_admission_0004):
        timed(call, 50)  # warm: imports, pool, plans
    without, with_gate, admit_only, admit_0004 = [], [], [], []
    for _ in range(max(n // BATCH, 1)):
        without += timed(call_plain, BATCH)
        with_gate += timed(call_gated, BATCH)
        admit_only += timed(call_admission, BATCH // 2)
        admit_0004 += timed(call_admission_0004, BATCH // 2)
    pool.close()

    base_p50, base_p99 = summary(without)
    gate_p50, gate_p99 = summary(with_gate)
    adm_p50, adm_p99 = summary(admit_only)
    old_p50, old_p99 = summary(admit_0004)
    print(
        f"GET /tenants/{{id}}/settings x{len(without)} without the gate: p50 {base_p50:.3f} ms  p99 {base_p99:.3f} ms"
    )
    print(
        f"GET /tenants/{{id}}/settings x{len(with_gate)} with the gate:    p50 {gate_p50:.3f} ms  p99 {gate_p99:.3f} ms"
    )
    print(
        f"admit_api_request alone x{len(admit_only)}:           p50 {adm_p50:.3f} ms  p99 {adm_p99:.3f} ms"
    )
    print(
        f"  without the credential checks x{len(admit_0004)}: p50 {old_p50:.3f} ms  p99 {old_p99:.3f} ms"
        f"  (the checks cost {adm_p50 / old_p50:.2f}x at p50)"
    )
    print(f"gate cost per request (p50): +{gate_p50 - base_p50:.3f} ms")
    print(
        f"ratio with/without (p50): {gate_p50 / base_p50:.2f}x   (p99): {gate_p99 / base_p99:.2f}x"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else scaled(2000, smoke=5))
