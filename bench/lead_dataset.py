"""The leads benchmarks' data set: 10 tenants, one with 1,000,000 leads and nine with 100,000,
in a database of its own (`crm_bench_leads` on the server of DATABASE_URL, or of the test
profile), loaded once by SQL and reused by later runs.

Leads get Portuguese and English names (with accents), emails, companies, phones, one of four
statuses, owners, 0-2 of eight tags, one of four categories, a score, and two custom fields
(`segment`, a select, and `employees`, a number), spread over two years of creation dates.

Run alone to (re)load: .venv/bin/python bench/lead_dataset.py [--reload]
"""

from __future__ import annotations

import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers/core")]

from crm.adapters.passwords import Argon2PasswordHasher  # noqa: E402
from crm.adapters.postgres.connection import connect  # noqa: E402
from crm.adapters.postgres.migrations import run_migrations  # noqa: E402

from bench.smoke import SMOKE, scaled  # noqa: E402
from local.services import ensure_test_services  # noqa: E402

# smoke mode loads a database of its own, so the full data set is never mistaken for it
DATABASE = "crm_bench_leads_smoke" if SMOKE else "crm_bench_leads"
BIG_TENANT_LEADS = scaled(1_000_000, smoke=2_000)
SMALL_TENANT_LEADS = scaled(100_000, smoke=200)
TENANTS = 10
OWNERS_PER_TENANT = 5
TAGS = ["vip", "hot", "cold", "partner", "inbound", "outbound", "event", "referral"]
CATEGORIES = ["Retail", "Industry", "Services", "Public sector"]
FIRST = [
    "João", "José", "Maria", "Ana", "Antônio", "Francisco", "Luís", "Paulo", "Carla", "Márcia",
    "Sérgio", "Fábio", "Patrícia", "Cláudia", "Mário", "Lúcia", "Helena", "Otávio", "Inês",
    "Raquel", "Thiago", "Bruna", "Camila", "Diego", "Emily", "James", "Olivia", "Noah", "Liam",
]  # fmt: skip
LAST = [
    "Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima",
    "Gomes", "Ribeiro", "Carvalho", "Araújo", "Gonçalves", "Conceição", "Simões", "Brandão",
    "Magalhães", "Assunção", "Smith", "Johnson", "Brown", "Quintanilha", "Albuquerque",
]  # fmt: skip
COMPANY = ["Padaria", "Construtora", "Farmácia", "Açougue", "Logística", "Tecnologia", "Café"]


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


OWNER_EMAIL = "owner@bench-leads.example.com"
OWNER_PASSWORD = "bench-password-123"  # noqa: S105 - a local bench login


@dataclass(frozen=True)
class Dataset:
    admin_url: str  # of the bench database
    app_url: str
    big_tenant: uuid.UUID
    owner_id: uuid.UUID  # an owner of the big tenant (OWNER_EMAIL / OWNER_PASSWORD)


def _sql_array(values: list[str]) -> str:
    return "(ARRAY[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "])"


def ensure_dataset(reload: bool = False) -> Dataset:
    endpoints = ensure_test_services(ROOT)
    server = connect(with_database(endpoints.admin_database_url, "postgres"))
    try:
        exists = server.run("SELECT 1 FROM pg_database WHERE datname = :d", d=DATABASE)
        if exists and reload:
            server.run(f"DROP DATABASE {DATABASE} WITH (FORCE)")
            exists = []
        if not exists:
            server.run(f"CREATE DATABASE {DATABASE}")
    finally:
        server.close()
    admin_url = with_database(endpoints.admin_database_url, DATABASE)
    migrated = run_migrations(admin_url)
    admin = connect(admin_url, timeout=3600)  # a batch of 100,000 leads takes a while
    try:
        admin.run("CREATE TABLE IF NOT EXISTS bench_marker (big_tenant uuid NOT NULL)")
        marker = admin.run("SELECT big_tenant FROM bench_marker")
        if not marker:
            _load(admin)
            marker = admin.run("SELECT big_tenant FROM bench_marker")
        big = marker[0][0]
        owner = _ensure_owner(admin, big)
    finally:
        admin.close()
    return Dataset(admin_url, migrated.app_url, big, owner)


def _ensure_owner(conn: Any, tenant: uuid.UUID) -> uuid.UUID:
    """An owner of the big tenant who can log in (the loaded users are sellers)."""
    found = conn.run("SELECT id FROM users WHERE email = :e", e=OWNER_EMAIL)
    if found:
        return uuid.UUID(str(found[0][0]))
    owner = uuid.uuid4()
    conn.run(
        "INSERT INTO users (id, tenant_id, email, name, password_hash, role)"
        " VALUES (:id, :t, :email, 'Owner', :hash, 'owner')",
        id=owner,
        t=tenant,
        email=OWNER_EMAIL,
        hash=Argon2PasswordHasher().hash(OWNER_PASSWORD),
    )
    conn.run(
        "INSERT INTO login_directory (email, tenant_id, tenant_slug, user_id)"
        " SELECT :email, id, slug, :owner FROM tenants WHERE id = :t",
        email=OWNER_EMAIL,
        owner=owner,
        t=tenant,
    )
    return owner


def _load(admin: object) -> None:
    """Bulk load: triggers (foreign keys, usage counters, the search table) and secondary
    indexes are set aside while rows go in (session_replication_role = replica), and what
    they would have made is built after: the indexes, the search rows, the usage counters.
    (Row by row, the usage trigger bumps one counter row per lead: in one transaction that
    is a version chain the next update walks, quadratic in the batch size.)"""
    conn = admin
    started = time.monotonic()
    indexes = conn.run(  # type: ignore[attr-defined]
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i"
        " JOIN pg_class t ON t.oid = i.indrelid WHERE t.relname IN ('leads', 'lead_search')"
        " AND NOT i.indisprimary AND NOT i.indisunique"
    )
    for name, _ in indexes:
        conn.run(f"DROP INDEX {name}")  # type: ignore[attr-defined]
    conn.run("SET session_replication_role = replica")  # type: ignore[attr-defined]
    tenants = [uuid.uuid4() for _ in range(TENANTS)]
    for index, tenant in enumerate(tenants):
        conn.run(  # type: ignore[attr-defined]
            "INSERT INTO tenants (id, name, slug, plan) VALUES (:id, :n, :s, 'enterprise')",
            id=tenant,
            n=f"Bench {index}",
            s=f"bench-{index}-{tenant.hex[:8]}",
        )
        conn.run(  # type: ignore[attr-defined]
            "INSERT INTO users (id, tenant_id, email, name, password_hash, role)"
            " SELECT gen_random_uuid(), :t, 'user' || i || '@bench.example.com', 'User ' || i,"
            " 'x', 'seller' FROM generate_series(1, :n) i",
            t=tenant,
            n=OWNERS_PER_TENANT,
        )
        conn.run(  # type: ignore[attr-defined]
            "INSERT INTO tags (tenant_id, name) SELECT :t, unnest(CAST(:tags AS text[]))",
            t=tenant,
            tags=TAGS,
        )
        conn.run(  # type: ignore[attr-defined]
            "INSERT INTO categories (tenant_id, name) SELECT :t, unnest(CAST(:c AS text[]))",
            t=tenant,
            c=CATEGORIES,
        )
        conn.run(  # type: ignore[attr-defined]
            "INSERT INTO custom_fields (id, tenant_id, entity, key, label, type, options) VALUES"
            " (gen_random_uuid(), :t, 'lead', 'segment', 'Segment', 'select',"
            "  ARRAY['smb', 'mid', 'enterprise']),"
            " (gen_random_uuid(), :t, 'lead', 'employees', 'Employees', 'number', '{}')",
            t=tenant,
        )
        count = BIG_TENANT_LEADS if index == 0 else SMALL_TENANT_LEADS
        for start in range(0, count, 50_000):
            _insert_leads(conn, tenant, start, min(50_000, count - start))
        print(f"  tenant {index}: {count:,} leads", flush=True)
    conn.run(  # type: ignore[attr-defined]
        "INSERT INTO lead_search (id, tenant_id, live, document, tags, custom_fields)"
        " SELECT id, tenant_id, deleted_at IS NULL, crm_search_text(name, email, company, phone),"
        " tags, custom_fields FROM leads"
    )
    conn.run(  # type: ignore[attr-defined]
        "INSERT INTO usage_counters (tenant_id, metric, period_start, used)"
        " SELECT tenant_id, 'leads', 'epoch', count(*) FROM leads GROUP BY tenant_id"
        " ON CONFLICT (tenant_id, metric, period_start) DO UPDATE SET used = EXCLUDED.used"
    )
    conn.run("SET session_replication_role = DEFAULT")  # type: ignore[attr-defined]
    for name, definition in indexes:
        conn.run(definition)  # type: ignore[attr-defined]
        print(f"  index {name} rebuilt", flush=True)
    conn.run("ANALYZE")  # type: ignore[attr-defined]
    conn.run("INSERT INTO bench_marker VALUES (:t)", t=tenants[0])  # type: ignore[attr-defined]
    print(f"loaded in {time.monotonic() - started:.0f} s", flush=True)


def _insert_leads(conn: object, tenant: uuid.UUID, offset: int, count: int) -> None:
    first, last, company = _sql_array(FIRST), _sql_array(LAST), _sql_array(COMPANY)
    tags, categories = _sql_array(TAGS), _sql_array(CATEGORIES)
    # i is the lead's number; every attribute is derived from it, so runs load the same data.
    conn.run(  # type: ignore[attr-defined]
        "INSERT INTO leads (id, tenant_id, name, email, phone, company, source, status,"
        " lost_reason, owner_id, tags, category, score, custom_fields, created_at, updated_at)"
        " SELECT gen_random_uuid(), :t, f || ' ' || l || ' ' || i,"
        "  lower(crm_unaccent(f)) || '.' || i || '@mail' || (i % 97) || '.example.com',"
        "  '+55 11 9' || lpad((CAST(i AS bigint) * 7919 % 100000000)::text, 8, '0'),"
        f"  {company}[1 + i % 7] || ' ' || l,"
        "  (ARRAY['web', 'event', 'referral', 'import'])[1 + i % 4],"
        "  st, CASE WHEN st = 'lost' THEN 'no budget' END,"
        "  o.ids[1 + i % 5],"
        f"  CASE i % 5 WHEN 0 THEN '{{}}' WHEN 1 THEN ARRAY[{tags}[1 + i % 8]]"
        f"   ELSE ARRAY[{tags}[1 + i % 8], {tags}[1 + (i / 8) % 8]] END,"
        f"  {categories}[1 + i % 4],"
        "  CASE WHEN i % 3 = 0 THEN NULL ELSE i % 101 END,"
        "  jsonb_build_object('segment', (ARRAY['smb', 'mid', 'enterprise'])[1 + i % 3],"
        "   'employees', i % 5000),"
        "  ts, ts + (i % 1000) * interval '1 minute'"
        " FROM (SELECT i, "
        f"  {first}[1 + i % {len(FIRST)}] AS f, {last}[1 + (i / 7) % {len(LAST)}] AS l,"
        "  (ARRAY['new', 'new', 'qualified', 'lost'])[1 + i % 4] AS st,"
        "  now() - (i % 730) * interval '1 day' - (i % 86400) * interval '1 second' AS ts"
        "  FROM generate_series(CAST(:first AS int), CAST(:last AS int)) i) g,"
        "  (SELECT array_agg(id ORDER BY id) AS ids FROM users WHERE tenant_id = :t) o",
        t=tenant,
        first=offset + 1,
        last=offset + count,
    )


if __name__ == "__main__":
    data = ensure_dataset(reload="--reload" in sys.argv)
    print(data)
