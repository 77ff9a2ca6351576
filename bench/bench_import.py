"""Lead import throughput (rows/s): the import worker (crm.services.imports.run_import: CSV
parsing, per-row validation, duplicate checks, batches of 1,000 with their history rows, one
crm.lead.imported event each, post-commit publish) vs the bare SQL of its batches (the same
leads, history rows and events written by the repositories, no parsing or checks), same run,
into a new tenant of the 1,000,000-lead bench database (bench/lead_dataset.py): indexes as
large as a big tenant's. Also the worker with `trigger_automations` (each created lead's
crm.lead.created written to the outbox and published too) vs the default.

The end-to-end figure through the local cloud (upload to S3, asynchronous worker function,
consumers of the events running alongside) is printed by
tests/e2e/test_import_export_api.py::test_a_100k_row_import_with_bad_rows_loses_nothing.

Run: .venv/bin/python bench/bench_import.py [ROWS]
"""

from __future__ import annotations

import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers/core"), str(ROOT / "bench")]

import pika  # noqa: E402
from crm.adapters.postgres.connection import ConnectionPool, connect  # noqa: E402
from crm.adapters.postgres.unit_of_work import PostgresDatabase  # noqa: E402
from crm.adapters.rabbitmq.publisher import RabbitMqPublisher  # noqa: E402
from crm.domain.events import CloudEvent  # noqa: E402
from crm.domain.imports import ImportStatus  # noqa: E402
from crm.domain.leads import Lead  # noqa: E402
from crm.domain.records import Change, RecordKind  # noqa: E402
from crm.domain.tenants import Principal, Role, Tenant, User  # noqa: E402
from crm.services.imports import BATCH_SIZE, ImportRequest, request_import, run_import  # noqa: E402
from crm.services.records import record_values  # noqa: E402
from crm.services.request_context import RequestContext  # noqa: E402
from lead_dataset import ensure_dataset  # noqa: E402

from bench.smoke import scaled  # noqa: E402
from local.services import ensure_test_services  # noqa: E402

MAPPING = {"name": "Nome", "email": "E-mail", "phone": "Telefone", "company": "Empresa"}


class Files:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, key: str, body: bytes, content_type: str = "text/csv") -> None:
        self.objects[key] = body

    def exists(self, key: str) -> bool:
        return key in self.objects

    def read_bytes(self, key: str) -> bytes:
        return self.objects[key]

    def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    def upload_url(self, key: str, expires_in: int) -> str:
        return key


class NoJobs:
    def start(self, payload: dict[str, Any]) -> None:
        return None  # the bench runs the worker itself


def csv_rows(rows: int, run: str) -> str:
    prefix = int(run, 16) % 9000 + 1000  # every run's phones differ from the last run's
    lines = ["Nome,E-mail,Telefone,Empresa"]
    lines += [
        f"Pessoa {i},p{i}-{run}@bench{i % 97}.example.com,+55 {prefix} {i:07d},Empresa {i % 1000}"
        for i in range(rows)
    ]
    return "\n".join(lines) + "\n"


def new_tenant(db: PostgresDatabase) -> Principal:
    tenant = Tenant("Import bench", f"import-bench-{uuid.uuid4().hex[:8]}", plan="enterprise")
    owner = User(tenant.id, f"owner@{tenant.slug}.example.com", "Owner", "x", Role.OWNER)
    with db.unit_of_work(tenant.id) as uow:
        uow.tenants.add(tenant)
        uow.users.add(owner, tenant_slug=tenant.slug)
        uow.commit()
    return Principal(tenant.id, owner.id, Role.OWNER)


def through_worker(
    db: PostgresDatabase, owner: Principal, rows: int, *, trigger_automations: bool = False
) -> float:
    files = Files()
    job, _ = request_import(
        ImportRequest(mapping=MAPPING, csv=None, trigger_automations=trigger_automations),
        RequestContext(owner),
        unit_of_work=db.unit_of_work,
        files=files,
        jobs=NoJobs(),
        request={"bench": str(uuid.uuid4())},
    )
    files.put(job["upload_url"], csv_rows(rows, uuid.uuid4().hex[:6]).encode())
    with db.unit_of_work(owner.tenant_id) as uow:  # as POST /imports/{id}/start would
        queued = uow.imports.get(uuid.UUID(job["id"]), for_update=True)
        assert queued is not None
        queued.status = ImportStatus.QUEUED
        uow.imports.save(queued)
        uow.commit()
    start = time.perf_counter()
    done = run_import(
        owner.tenant_id, uuid.UUID(job["id"]), unit_of_work=db.unit_of_work, files=files
    )
    elapsed = time.perf_counter() - start
    assert done is not None and done.created_count == rows, done
    return rows / elapsed


def bare_sql(db: PostgresDatabase, owner: Principal, rows: int) -> float:
    run = uuid.uuid4().hex[:6]
    start = time.perf_counter()
    for first in range(0, rows, BATCH_SIZE):
        now = datetime.now(UTC)
        leads = [
            Lead(owner.tenant_id, f"Pessoa {i}", email=f"b{i}-{run}@bench.example.com",
                 phone=f"+44 {run} {i:07d}", company=f"Empresa {i % 1000}", source="import",
                 owner_id=owner.user_id, created_by=owner.user_id, created_at=now, updated_at=now)
            for i in range(first, min(first + BATCH_SIZE, rows))
        ]  # fmt: skip
        with db.unit_of_work(owner.tenant_id) as uow:
            uow.leads.add_many(leads)
            entries = []
            for lead in leads:
                change = Change.by(owner, RecordKind.LEAD, lead.id, now)
                change.record("created", None, None, record_values(lead.to_dict()))
                entries += change.entries
            uow.history.add(entries)
            uow.add_event(
                CloudEvent("crm.lead.imported", owner.tenant_id, f"imports/{uuid.uuid4()}",
                           {"import_id": str(uuid.uuid4()), "leads": [lead.to_dict() for lead in leads]})
            )  # fmt: skip
            uow.commit()
    return rows / (time.perf_counter() - start)


class PrivateExchange:
    """An exchange of the bench's own on the test broker, bound to one exclusive queue that
    nothing consumes: the worker publishes (with confirms) as it would to crm.events, but no
    test consumer receives events of tenants its database does not know. Both go at close."""

    def __init__(self, amqp_url: str) -> None:
        self.name = f"bench.import.{uuid.uuid4().hex[:8]}"
        self._connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        channel = self._connection.channel()
        channel.exchange_declare(self.name, "topic", auto_delete=False)
        queue = channel.queue_declare("", exclusive=True).method.queue
        channel.queue_bind(queue, self.name, "#")
        self._channel = channel

    def close(self) -> None:
        self._channel.exchange_delete(self.name)
        self._connection.close()


def main(rows: int) -> None:
    data = ensure_dataset()
    amqp = ensure_test_services(ROOT).amqp_url
    pool = ConnectionPool(data.app_url, size=2)
    exchange = PrivateExchange(amqp)
    db = PostgresDatabase(pool, RabbitMqPublisher(amqp, exchange=exchange.name))
    owner = new_tenant(db)
    through_worker(db, owner, 2_000)  # warm
    bare_sql(db, owner, 2_000)
    worker = through_worker(db, owner, rows)
    bare = bare_sql(db, owner, rows)
    triggering = through_worker(db, owner, rows, trigger_automations=True)
    admin = connect(data.admin_url)
    total = admin.run("SELECT count(*) FROM leads")[0][0]
    admin.close()
    print(f"import of {rows:,} rows into a table of {total:,} leads (batches of {BATCH_SIZE}):")
    print(f"  import worker: {worker:,.0f} rows/s")
    print(f"  bare SQL of its batches: {bare:,.0f} rows/s")
    print(f"  ratio: {bare / worker:.1f}x (parsing, validation, duplicate checks)")
    print(
        f"  import worker with trigger_automations (+1 crm.lead.created per lead):"
        f" {triggering:,.0f} rows/s, {worker / triggering:.2f}x the default import's time"
    )
    pool.close()
    exchange.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else scaled(50_000, smoke=200))
