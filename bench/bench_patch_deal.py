"""PATCH /deals/{id} (a stage move, with If-Match) through the local cloud's gateway vs the bare
SQL of its transaction, same run.

The request path: HTTP -> gateway -> Lambda authorizer (cached per token) -> API gate (rate
limit and current role: one round trip) -> DealsApiFunction (Powertools validation) -> unit of
work: BEGIN, set_config tenant, SELECT deal FOR UPDATE, SELECT pipeline + stages, UPDATE deal,
close the stage stay, INSERT the new stay, INSERT outbox x2 (crm.deal.updated,
crm.deal.stage_changed), INSERT audit, COMMIT -> post-commit publish with confirms -> mark
published. The baseline runs the same transaction's statements on one connection, without the
HTTP, the gate, validation, the domain rules and the publish.

The deal moves back and forth between two open stages, so every request is a real transition.

Run: .venv/bin/python bench/bench_patch_deal.py [N]   (starts the test servers if needed)
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers/core")]

from crm.adapters.postgres.connection import connect  # noqa: E402
from crm.adapters.postgres.migrations import run_migrations  # noqa: E402
from crm.adapters.postgres.repositories import PostgresAuditLog, PostgresOutbox  # noqa: E402
from crm.domain.audit import AuditEntry  # noqa: E402
from crm.domain.events import CloudEvent  # noqa: E402

from bench.smoke import scaled  # noqa: E402
from local.project import project_cloud  # noqa: E402
from local.services import ensure_test_services  # noqa: E402


def timed(samples: list[float], start: float) -> None:
    samples.append((time.perf_counter() - start) * 1000)


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.99) - 1]


def through_gateway(
    url: str, token: str, deal: dict[str, Any], stages: list[str], n: int
) -> list[float]:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    samples: list[float] = []
    etag = f'"{deal["version"]}"'
    current = deal["stage_id"]
    for _ in range(n):
        target = stages[1] if current == stages[0] else stages[0]
        start = time.perf_counter()
        response = session.patch(
            f"{url}/deals/{deal['id']}", json={"stage_id": target}, headers={"If-Match": etag}
        )
        timed(samples, start)
        assert response.status_code == 200, response.text
        etag, current = response.headers["ETag"], target
    return samples


def bare_sql(
    app_url: str,
    tenant_id: uuid.UUID,
    user_id: uuid.UUID,
    deal_id: uuid.UUID,
    pipeline_id: uuid.UUID,
    stages: list[str],
    n: int,
) -> list[float]:
    conn = connect(app_url)
    outbox, audit = PostgresOutbox(conn), PostgresAuditLog(conn)
    samples: list[float] = []
    try:
        for _ in range(n):
            start = time.perf_counter()
            now = datetime.now(UTC)
            conn.run("BEGIN")
            conn.run("SELECT set_config('app.tenant_id', :t, true)", t=str(tenant_id))
            row = conn.run(
                "SELECT d.stage_id, d.version, s.probability FROM deals d"
                " JOIN pipeline_stages s ON s.id = d.stage_id WHERE d.id = :id"
                " AND d.deleted_at IS NULL FOR UPDATE OF d",
                id=deal_id,
            )[0]
            conn.run(
                "SELECT id, name, is_default, archived_at, version FROM pipelines WHERE id = :id",
                id=pipeline_id,
            )
            conn.run(
                "SELECT id, pipeline_id, name, position, probability, kind FROM pipeline_stages"
                " WHERE pipeline_id = ANY(CAST(:ids AS uuid[])) ORDER BY pipeline_id, position",
                ids=[str(pipeline_id)],
            )
            target = stages[1] if str(row[0]) == stages[0] else stages[0]
            conn.run(
                "UPDATE deals SET stage_id = :stage, status = 'open', stage_entered_at = :now,"
                " updated_at = :now, version = :version WHERE id = :id",
                stage=uuid.UUID(target),
                now=now,
                version=row[1] + 1,
                id=deal_id,
            )
            conn.run(
                "UPDATE deal_stage_history SET left_at = greatest(:at, entered_at)"
                " WHERE deal_id = :deal_id AND left_at IS NULL",
                at=now,
                deal_id=deal_id,
            )
            conn.run(
                "INSERT INTO deal_stage_history (tenant_id, id, deal_id, pipeline_id, stage_id,"
                " stage_name, from_stage_id, entered_at, moved_by) VALUES (app_tenant_id(), :id,"
                " :deal_id, :pipeline_id, :stage_id, 'bench', :from_stage, :now, :user)",
                id=uuid.uuid4(),
                deal_id=deal_id,
                pipeline_id=pipeline_id,
                stage_id=uuid.UUID(target),
                from_stage=row[0],
                now=now,
                user=user_id,
            )
            for event_type in ("crm.deal.updated", "crm.deal.stage_changed"):
                data = {"deal": {"id": str(deal_id)}, "changes": {"stage_id": target}}
                event = CloudEvent(event_type, tenant_id, f"deals/{deal_id}", data)
                outbox.add(json.loads(json.dumps(event.to_dict())))
            audit.record(
                AuditEntry(
                    tenant_id,
                    "deal.stage_changed",
                    actor_id=user_id,
                    entity_type="deal",
                    entity_id=str(deal_id),
                    changes={"stage_id": {"new": target}},
                )
            )
            conn.run("COMMIT")
            timed(samples, start)
    finally:
        conn.close()
    return samples


def _json(response: requests.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


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
        signed_up = _json(
            requests.post(
                f"{cloud.url}/tenants",
                timeout=30,
                json={"name": "Bench", "slug": slug, "owner": owner},
            )
        )
        tenant_id = uuid.UUID(signed_up["id"])
        admin = connect(endpoints.admin_database_url)
        try:  # the biggest plan: its per-minute request limit is far above this run
            admin.run("UPDATE tenants SET plan = 'enterprise' WHERE id = :id", id=tenant_id)
        finally:
            admin.close()
        credentials = {"email": owner["email"], "password": owner["password"]}
        token = _json(requests.post(f"{cloud.url}/auth/login", json=credentials, timeout=30))[
            "access_token"
        ]
        headers = {"Authorization": f"Bearer {token}"}
        pipeline = _json(requests.get(f"{cloud.url}/pipelines", headers=headers, timeout=30))[
            "items"
        ][0]
        stages = [pipeline["stages"][0]["id"], pipeline["stages"][1]["id"]]
        api_deal = _json(
            requests.post(f"{cloud.url}/deals", json={"title": "api"}, headers=headers, timeout=30)
        )
        bare_deal = _json(
            requests.post(f"{cloud.url}/deals", json={"title": "bare"}, headers=headers, timeout=30)
        )
        user_id = uuid.UUID(signed_up["owner"]["id"])
        bare_args = (
            migrated.app_url,
            tenant_id,
            user_id,
            uuid.UUID(bare_deal["id"]),
            uuid.UUID(pipeline["id"]),
            stages,
        )
        through_gateway(cloud.url, token, api_deal, stages, 20)  # warm: imports, pools, caches
        bare_sql(*bare_args, 20)
        api_deal = _json(
            requests.get(f"{cloud.url}/deals/{api_deal['id']}", headers=headers, timeout=30)
        )
        api = through_gateway(cloud.url, token, api_deal, stages, n)
        bare = bare_sql(*bare_args, n)
    api_p50, api_p99 = summary(api)
    sql_p50, sql_p99 = summary(bare)
    print(
        f"PATCH /deals/{{id}} stage move x{n} through the gateway: "
        f"p50 {api_p50:.2f} ms  p99 {api_p99:.2f} ms"
    )
    print(f"bare SQL of its transaction x{n}: p50 {sql_p50:.2f} ms  p99 {sql_p99:.2f} ms")
    print(f"ratio (p50): {api_p50 / sql_p50:.1f}x   ratio (p99): {api_p99 / sql_p99:.1f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else scaled(300, smoke=5))
