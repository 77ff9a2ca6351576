"""POST /leads through the local cloud's gateway vs the bare SQL it performs, same run.

The request path: HTTP -> gateway -> Lambda authorizer (cached per token) -> LeadsApiFunction
(Powertools validation) -> unit of work (BEGIN, set_config tenant, INSERT lead, INSERT outbox,
COMMIT) -> post-commit publish with confirms to RabbitMQ -> mark published. The baseline is a
loop of the same BEGIN / set_config / INSERT lead / INSERT outbox / COMMIT on one connection.

Run: .venv/bin/python bench/bench_post_lead.py [N]   (starts the test servers if needed)
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers/core")]

from crm.adapters.postgres.connection import connect  # noqa: E402
from crm.adapters.postgres.migrations import run_migrations  # noqa: E402
from crm.domain.leads import Lead  # noqa: E402

from bench.smoke import scaled  # noqa: E402
from local.project import project_cloud  # noqa: E402
from local.services import ensure_test_services  # noqa: E402


def timed(samples: list[float], start: float) -> None:
    samples.append((time.perf_counter() - start) * 1000)


def bare_sql(app_url: str, tenant_id: uuid.UUID, n: int) -> list[float]:
    conn = connect(app_url)
    samples: list[float] = []
    try:
        for i in range(n):
            start = time.perf_counter()
            lead = Lead(tenant_id=tenant_id, name=f"Bare {i}", email=f"bare{i}@example.com")
            conn.run("BEGIN")
            conn.run("SELECT set_config('app.tenant_id', :t, true)", t=str(tenant_id))
            conn.run(
                "INSERT INTO leads (id, tenant_id, name, email, status, created_at, updated_at, version)"
                " VALUES (:id, :t, :name, :email, 'new', :c, :u, 1)",
                id=lead.id, t=tenant_id, name=lead.name, email=lead.email, c=lead.created_at, u=lead.updated_at,
            )  # fmt: skip
            envelope = lead.created_event().to_dict()
            conn.run(
                "INSERT INTO outbox (id, tenant_id, type, envelope) VALUES (:id, :t, :type, CAST(:e AS jsonb))",
                id=uuid.UUID(envelope["id"]), t=tenant_id, type=envelope["type"], e=json.dumps(envelope),
            )  # fmt: skip
            conn.run("COMMIT")
            timed(samples, start)
    finally:
        conn.close()
    return samples


def through_gateway(url: str, token: str, n: int, label: str = "api") -> list[float]:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    samples: list[float] = []
    for i in range(n):
        start = time.perf_counter()
        response = session.post(
            f"{url}/leads", json={"name": f"Api {i}", "email": f"{label}{i}@example.com"}
        )
        timed(samples, start)
        assert response.status_code == 201, response.text
    return samples


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]


def main(n: int) -> None:
    endpoints = ensure_test_services(ROOT)
    migrated = run_migrations(endpoints.admin_database_url)
    cloud = project_cloud(endpoints, profile="bench")
    with cloud:
        slug = f"bench-{uuid.uuid4().hex[:8]}"
        owner = {
            "email": f"owner@{slug}.example.com",
            "password": "bench-password-123",
            "name": "Bench",
        }
        signed_up = requests.post(
            f"{cloud.url}/tenants", json={"name": "Bench", "slug": slug, "owner": owner}, timeout=30
        )
        assert signed_up.status_code == 201, signed_up.text
        tenant_id = uuid.UUID(signed_up.json()["id"])
        credentials = {"email": owner["email"], "password": owner["password"]}
        login = requests.post(f"{cloud.url}/auth/login", json=credentials, timeout=30)
        token = login.json()["access_token"]
        # The biggest plan: its per-minute request and lead limits are far above this run.
        upgraded = requests.patch(
            f"{cloud.url}/tenants/{tenant_id}/plan",
            json={"plan": "enterprise"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert upgraded.status_code == 200, upgraded.text
        # warm: imports, pools, authorizer cache (emails of their own: duplicates are 409)
        through_gateway(cloud.url, token, 20, label="warm")
        bare_sql(migrated.app_url, tenant_id, 20)
        api = through_gateway(cloud.url, token, n)
        bare = bare_sql(migrated.app_url, tenant_id, n)
    api_p50, api_p99 = summary(api)
    sql_p50, sql_p99 = summary(bare)
    print(f"POST /leads x{n} through the gateway: p50 {api_p50:.2f} ms  p99 {api_p99:.2f} ms")
    print(f"bare INSERT lead + INSERT outbox x{n}: p50 {sql_p50:.2f} ms  p99 {sql_p99:.2f} ms")
    print(f"ratio (p50): {api_p50 / sql_p50:.1f}x   ratio (p99): {api_p99 / sql_p99:.1f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else scaled(300, smoke=5))
