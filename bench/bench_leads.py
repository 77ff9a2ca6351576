"""Leads at scale: GET /leads (search and filtered lists) on a tenant with 1,000,000 leads among
10 tenants (bench/lead_dataset.py), and POST /leads and PATCH /leads/{id}, each through the
local cloud's gateway vs the bare SQL it runs, in the same run.

- Lists: the gateway request (authorizer, API gate, validation, cursor, unit of work, the list
  queries, JSON) vs the same queries alone (record_lists.find_page: BEGIN, set_config, the
  search-ids SELECT when q/tags/custom fields are given, the list SELECT, COMMIT) on a crm_app
  connection. p50 and p95 of each, and their ratio.
- POST /leads: vs the statements of create_lead's transaction, through the repositories (usage
  counter lock, custom field definitions, identity lock + duplicate lookup, INSERT lead with
  its search row, history, outbox, audit).
- PATCH /leads/{id} (name + status, with If-Match): vs its transaction's statements (lock,
  UPDATE, history, three outbox rows, audit).

Run: .venv/bin/python bench/bench_leads.py [N]   (loads the data set the first time: minutes)
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers/core"), str(ROOT / "bench")]

from backbone_servers import backbone_servers  # noqa: E402
from crm.adapters.postgres.connection import connect  # noqa: E402
from crm.adapters.postgres.history import PostgresRecordHistory  # noqa: E402
from crm.adapters.postgres.leads import LEAD_LIST, PostgresLeadRepository  # noqa: E402
from crm.adapters.postgres.record_lists import find_page  # noqa: E402
from crm.adapters.postgres.repositories import PostgresAuditLog, PostgresOutbox  # noqa: E402
from crm.adapters.postgres.taxonomy import PostgresCustomFields  # noqa: E402
from crm.adapters.postgres.tenancy import tenancy_repositories  # noqa: E402
from crm.domain.audit import AuditEntry  # noqa: E402
from crm.domain.leads import Lead, LeadStatus, change_events  # noqa: E402
from crm.domain.pagination import PageRequest  # noqa: E402
from crm.domain.records import (  # noqa: E402
    Change,
    RecordFilters,
    RecordKind,
    RecordSort,
    RecordSortField,
    phone_digits,
)
from crm.domain.tenants import Principal, Role  # noqa: E402
from lead_dataset import OWNER_EMAIL, OWNER_PASSWORD, Dataset, ensure_dataset  # noqa: E402

from bench.smoke import scaled  # noqa: E402
from local.project import project_cloud  # noqa: E402
from local.services import Endpoints, ensure_test_services  # noqa: E402

LISTS: list[tuple[str, dict[str, Any], RecordFilters, RecordSort]] = [
    ("newest 50", {}, RecordFilters(), RecordSort(RecordKind.LEAD)),
    (
        "q=joao (accent-free, common)",
        {"q": "joao"},
        RecordFilters(q="joao"),
        RecordSort(RecordKind.LEAD),
    ),
    (
        "q=quintanilha 4242 (rare)",
        {"q": "quintanilha 4242"},
        RecordFilters(q="quintanilha 4242"),
        RecordSort(RecordKind.LEAD),
    ),
    (
        "q=magalhaes padaria",
        {"q": "magalhaes padaria"},
        RecordFilters(q="magalhaes padaria"),
        RecordSort(RecordKind.LEAD),
    ),
    (
        "status=qualified",
        {"status": "qualified"},
        RecordFilters(statuses=("qualified",)),
        RecordSort(RecordKind.LEAD),
    ),
    ("tag=vip", {"tag": "vip"}, RecordFilters(tags=("vip",)), RecordSort(RecordKind.LEAD)),
    (
        "tag=vip,event (both)",
        {"tag": "vip,event"},
        RecordFilters(tags=("vip", "event")),
        RecordSort(RecordKind.LEAD),
    ),
    (
        "category=Retail",
        {"category": "Retail"},
        RecordFilters(category="Retail"),
        RecordSort(RecordKind.LEAD),
    ),
    (
        "cf.segment=enterprise",
        {"cf.segment": "enterprise"},
        RecordFilters(custom_fields={"segment": "enterprise"}),
        RecordSort(RecordKind.LEAD),
    ),
    (
        "sort=name asc",
        {"sort": "name", "order": "asc"},
        RecordFilters(),
        RecordSort(RecordKind.LEAD, RecordSortField.NAME, descending=False),
    ),
    (
        "sort=score desc",
        {"sort": "score", "order": "desc"},
        RecordFilters(),
        RecordSort(RecordKind.LEAD, RecordSortField.SCORE, descending=True),
    ),
]


def timed(work: Callable[[], Any]) -> float:
    start = time.perf_counter()
    work()
    return (time.perf_counter() - start) * 1000


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.95) - 1)]


def report(label: str, api: list[float], bare: list[float]) -> None:
    api_p50, api_p95 = percentiles(api)
    sql_p50, sql_p95 = percentiles(bare)
    print(
        f"{label:<32} api p50 {api_p50:7.2f} p95 {api_p95:7.2f} ms | bare SQL p50 {sql_p50:7.2f}"
        f" p95 {sql_p95:7.2f} ms | ratio p50 {api_p50 / sql_p50:5.1f}x p95 {api_p95 / sql_p95:5.1f}x",
        flush=True,
    )


def in_tenant(conn: Any, tenant_id: uuid.UUID, work: Callable[[], Any]) -> Any:
    conn.run("BEGIN")
    conn.run("SELECT set_config('app.tenant_id', :t, true)", t=str(tenant_id))
    result = work()
    conn.run("COMMIT")
    return result


# ------------------------------------------------------------------ lists


def bench_lists(url: str, token: str, data: Dataset, conn: Any, n: int) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    for label, params, filters, sort in LISTS:

        def api(params: dict[str, Any] = params) -> None:
            response = session.get(f"{url}/leads", params={"limit": 50, **params})
            assert response.status_code == 200, response.text

        def bare(filters: RecordFilters = filters, sort: RecordSort = sort) -> None:
            in_tenant(
                conn,
                data.big_tenant,
                lambda: find_page(conn, LEAD_LIST, filters, sort, PageRequest(50)),
            )

        for _ in range(3):  # warm: caches, plans
            api()
            bare()
        api_samples = [timed(api) for _ in range(n)]
        bare_samples = [timed(bare) for _ in range(n)]
        report(f"GET /leads {label}", api_samples, bare_samples)


# ------------------------------------------------------------------ writes


def bench_post(url: str, token: str, data: Dataset, conn: Any, n: int) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    run = uuid.uuid4().hex[:8]
    owner = Principal(data.big_tenant, data.owner_id, Role.OWNER)

    def api(i: int) -> None:
        body = {"name": f"Api {run} {i}", "email": f"api-{run}-{i}@example.com"}
        response = session.post(f"{url}/leads", json=body)
        assert response.status_code == 201, response.text

    leads, history = PostgresLeadRepository(conn), PostgresRecordHistory(conn)
    outbox, audit, fields = PostgresOutbox(conn), PostgresAuditLog(conn), PostgresCustomFields(conn)
    usage = tenancy_repositories(conn, data.big_tenant)[4]

    def bare(i: int) -> None:
        def transaction() -> None:
            now = datetime.now(UTC)
            lead = Lead(
                tenant_id=data.big_tenant,
                name=f"Bare {run} {i}",
                email=f"bare-{run}-{i}@example.com",
                owner_id=owner.user_id,
                created_by=owner.user_id,
                created_at=now,
                updated_at=now,
            )
            usage.lock_level("leads")
            fields.for_entity(RecordKind.LEAD)
            leads.lock_identities([f"email:{lead.email}"])
            leads.find_duplicate(lead.email, phone_digits(lead.phone), None)
            leads.add(lead)
            change = Change.by(owner, RecordKind.LEAD, lead.id, now)
            change.record("created", None, None, lead.to_dict())
            history.add(change.entries)
            outbox.add(lead.created_event().to_dict())
            audit.record(
                AuditEntry(data.big_tenant, "lead.created", actor_id=owner.user_id,
                           entity_type="lead", entity_id=str(lead.id),
                           changes={"status": {"old": None, "new": "new"}})
            )  # fmt: skip

        in_tenant(conn, data.big_tenant, transaction)

    for i in range(5):
        api(-1 - i)
        bare(-1 - i)
    api_samples = [timed(lambda i=i: api(i)) for i in range(n)]
    bare_samples = [timed(lambda i=i: bare(i)) for i in range(n)]
    report("POST /leads", api_samples, bare_samples)


def bench_patch(url: str, token: str, data: Dataset, conn: Any, n: int) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    owner = Principal(data.big_tenant, data.owner_id, Role.OWNER)
    created = session.post(f"{url}/leads", json={"name": f"Patch {uuid.uuid4().hex[:6]}"})
    assert created.status_code == 201, created.text
    api_lead = created.json()
    bare_lead = session.post(f"{url}/leads", json={"name": "Bare patch"}).json()
    etag = f'"{api_lead["version"]}"'
    statuses = [LeadStatus.QUALIFIED, LeadStatus.NEW]

    def api(i: int) -> None:
        nonlocal etag
        body = {"name": f"Patched {i}", "status": statuses[i % 2].value}
        response = session.patch(
            f"{url}/leads/{api_lead['id']}", json=body, headers={"If-Match": etag}
        )
        assert response.status_code == 200, response.text
        etag = response.headers["ETag"]

    leads, history = PostgresLeadRepository(conn), PostgresRecordHistory(conn)
    outbox, audit = PostgresOutbox(conn), PostgresAuditLog(conn)
    lead_id = uuid.UUID(bare_lead["id"])

    def bare(i: int) -> None:
        def transaction() -> None:
            lead = leads.get(lead_id, for_update=True)
            assert lead is not None
            before = lead.to_dict()
            lead.name, lead.status = f"Bare {i}", statuses[i % 2]
            now = datetime.now(UTC)
            lead.version += 1
            lead.updated_at = now
            leads.update(lead)
            changes = {
                "name": {"old": before["name"], "new": lead.name},
                "status": {"old": before["status"], "new": lead.status.value},
            }
            change = Change.by(owner, RecordKind.LEAD, lead.id, now)
            change.fields(changes, {"status": "status_changed"})
            history.add(change.entries)
            for event in change_events(lead, changes, None):
                outbox.add(event.to_dict())
            audit.record(
                AuditEntry(data.big_tenant, "lead.status_changed", actor_id=owner.user_id,
                           entity_type="lead", entity_id=str(lead.id),
                           changes={"status": changes["status"]})
            )  # fmt: skip

        in_tenant(conn, data.big_tenant, transaction)

    for i in range(5):
        api(i)
        bare(i)
    api_samples = [timed(lambda i=i: api(i)) for i in range(n)]
    bare_samples = [timed(lambda i=i: bare(i)) for i in range(n)]
    report("PATCH /leads/{id}", api_samples, bare_samples)


def main(n: int) -> None:
    data = ensure_dataset()
    test = ensure_test_services(ROOT)
    # A broker of the bench's own: the bench cloud's consumers must not take the test clouds'
    # events, nor hand them the bench tenants' (neither database knows the other's tenants).
    servers, own = backbone_servers()
    endpoints = Endpoints(data.admin_url, own.amqp_url, test.opensearch_url)
    conn = connect(data.app_url, timeout=120)
    try:
        _run(endpoints, data, conn, n)
    finally:
        conn.close()
        servers.stop()


def _run(endpoints: Endpoints, data: Dataset, conn: Any, n: int) -> None:
    with project_cloud(endpoints, profile="bench") as cloud:
        login = requests.post(
            f"{cloud.url}/auth/login",
            json={"email": OWNER_EMAIL, "password": OWNER_PASSWORD},
            timeout=30,
        )
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        total = conn.run("SELECT count(*) FROM leads")  # crm_app without a tenant: 0 (RLS)
        assert total == [[0]], total
        print(f"tenant {data.big_tenant}: 1,000,000 leads; 10 tenants; N={n} per measure")
        bench_lists(cloud.url, token, data, conn, n)
        bench_post(cloud.url, token, data, conn, n)
        bench_patch(cloud.url, token, data, conn, n)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else scaled(50, smoke=3))
