"""Lead imports on the real PostgreSQL (the file store is an in-memory stand-in for S3): rows
in batches with their history and events, per-row errors without cell values, duplicates by
policy, the plan limit, a resumed run, two runs at once, files that cannot be imported."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from crm.adapters.postgres.unit_of_work import PostgresDatabase
from crm.domain.custom_fields import FieldType
from crm.domain.errors import Conflict, ValidationFailed
from crm.domain.imports import DedupPolicy, ImportStatus
from crm.services.imports import (
    ImportRequest,
    get_import,
    request_import,
    run_import,
    start_import,
)

from tests.integration.test_leads import Org

pytestmark = pytest.mark.integration

HEADER = "Nome,E-mail,Telefone,Empresa,Etiquetas,Segmento,Pontos\n"


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
        return f"https://upload.test/{key}"


class Jobs:
    def __init__(self) -> None:
        self.started: list[dict[str, Any]] = []

    def start(self, payload: dict[str, Any]) -> None:
        self.started.append(payload)


MAPPING = {
    "name": "Nome",
    "email": "E-mail",
    "phone": "Telefone",
    "company": "Empresa",
    "tags": "Etiquetas",
    "custom_fields.segment": "Segmento",
    "score": "Pontos",
}


@pytest.fixture()
def org(db: PostgresDatabase, admin_conn: Any) -> Org:
    made = Org(db, admin_conn, "imports")
    made.taxonomy(tags=["vip", "hot"])
    made.field("segment", FieldType.SELECT, options=["smb", "ent"])
    return made


def _import(org: Org, files: Files, csv: str, **options: Any) -> uuid.UUID:
    body, _ = request_import(
        ImportRequest(mapping=options.pop("mapping", MAPPING), csv=csv, **options),
        org.ctx(),
        unit_of_work=org.uow,
        files=files,
        jobs=Jobs(),
        request={"n": str(uuid.uuid4())},
    )
    return uuid.UUID(body["id"])


def _run(org: Org, files: Files, import_id: uuid.UUID, batch_size: int = 3) -> Any:
    return run_import(org.id, import_id, unit_of_work=org.uow, files=files, batch_size=batch_size)


def test_rows_become_leads_and_bad_rows_are_reported(org: Org, admin_conn: Any) -> None:
    files = Files()
    csv = HEADER + (
        "João Silva,joao@x.io,+55 11 1111-1111,Padaria,VIP;hot,smb,10\n"
        ",nameless@x.io,,,,,\n"  # 2: no name
        "Ana,not-an-email,,,,,\n"  # 3: bad email
        "Bo,bo@x.io,,,unknown,,\n"  # 4: unknown tag
        "Cy,cy@x.io,,,,big,\n"  # 5: not an option
        "Di,di@x.io,,,,,200\n"  # 6: score out of range
        ",,,,,,\n"  # 7: blank
        "Ed,ed@x.io,,Co,,ent,\n"
    )
    import_id = _import(org, files, csv)
    job = _run(org, files, import_id)
    assert job.status is ImportStatus.COMPLETED
    assert (job.total_rows, job.created_count, job.failed_count, job.skipped_count) == (8, 2, 5, 1)
    _, errors = get_import(import_id, org.owner, unit_of_work=org.uow)
    assert [(e.row, [x["field"] for x in e.errors]) for e in errors] == [
        (2, ["name"]),
        (3, ["email"]),
        (4, ["tags"]),
        (5, ["custom_fields.segment"]),
        (6, ["score"]),
    ]
    assert "not-an-email" not in str([e.to_dict() for e in errors])  # no cell values
    joao = admin_conn.run(
        "SELECT name, tags, custom_fields, score, source, owner_id FROM leads"
        " WHERE email = 'joao@x.io' AND tenant_id = :t",
        t=org.id,
    )
    assert joao == [
        ["João Silva", ["vip", "hot"], {"segment": "smb"}, 10, "import", org.owner.user_id]
    ]
    events = admin_conn.run(
        "SELECT envelope->'data' FROM outbox WHERE tenant_id = :t AND type = 'crm.lead.imported'",
        t=org.id,
    )
    history = admin_conn.run(
        "SELECT count(*) FROM record_history WHERE tenant_id = :t AND action = 'created'",
        t=org.id,
    )
    # batches of 3 rows: the two leads came in two batches, one event each
    assert [len(data["leads"]) for (data,) in events] == [1, 1]
    assert {data["import_id"] for (data,) in events} == {str(import_id)}
    assert history == [[2]]
    assert org.listed(q="padaria") == ["João Silva"]  # searchable at once
    assert files.objects == {}  # the file is deleted once the import has ended
    created_events = admin_conn.run(
        "SELECT count(*) FROM outbox WHERE tenant_id = :t AND type = 'crm.lead.created'", t=org.id
    )
    assert created_events == [[0]]  # a bulk import starts no crm.lead.created automation
    told = admin_conn.run(
        "SELECT user_id, kind, title, link FROM notifications WHERE tenant_id = :t", t=org.id
    )
    assert told == [[org.owner.user_id, "import_finished",
                     "Your import finished: 2 created, 0 updated, 1 skipped, 5 failed",
                     f"imports/{import_id}"]]  # fmt: skip


def test_an_import_may_trigger_the_automations_of_created_leads(org: Org, admin_conn: Any) -> None:
    files = Files()
    org.lead(name="Existing", email="dup@x.io")
    csv = HEADER + "".join(f"P{n},p{n}@x.io,,,,,\n" for n in range(4)) + "Dup,dup@x.io,,,,,\n"
    import_id = _import(org, files, csv, trigger_automations=True)
    job = _run(org, files, import_id)
    assert (job.created_count, job.skipped_count, job.trigger_automations) == (4, 1, True)
    events = admin_conn.run(
        "SELECT envelope->'data'->'lead'->>'name', envelope->>'subject' FROM outbox"
        " WHERE tenant_id = :t AND type = 'crm.lead.created' ORDER BY sequence",
        t=org.id,
    )
    ids = admin_conn.run(
        "SELECT name, id::text FROM leads WHERE tenant_id = :t AND source = 'import'", t=org.id
    )
    # one per created lead (not the skipped duplicate), as POST /leads would emit it; Existing
    # was created by the service itself
    assert sorted(name for name, _ in events) == ["Existing", "P0", "P1", "P2", "P3"]
    assert {subject for name, subject in events if name != "Existing"} == {
        f"leads/{lead_id}" for _, lead_id in ids
    }
    imported = admin_conn.run(
        "SELECT count(*) FROM outbox WHERE tenant_id = :t AND type = 'crm.lead.imported'",
        t=org.id,
    )
    assert imported == [[2]]  # the batch events stay (batches of 3 rows)


def test_duplicates_follow_the_policy(org: Org) -> None:
    files = Files()
    org.lead(name="Existing", email="dup@x.io", company="Old")
    csv = HEADER + "Dup,dup@x.io,,New Co,vip,,\nTwin,twin@x.io,,,,,\nTwin again,twin@x.io,,,,,\n"
    skipped = _run(org, files, _import(org, files, csv))
    assert (skipped.created_count, skipped.skipped_count, skipped.updated_count) == (1, 2, 0)
    updated = _run(org, files, _import(org, files, csv, dedup_policy=DedupPolicy.UPDATE))
    assert (updated.created_count, updated.updated_count) == (0, 3)
    assert sorted(org.listed()) == ["Dup", "Twin again"]


def test_rows_past_the_plan_limit_are_errors(org: Org, admin_conn: Any) -> None:
    admin_conn.run("UPDATE tenants SET plan = 'free' WHERE id = :t", t=org.id)
    admin_conn.run(
        "INSERT INTO usage_counters (tenant_id, metric, period_start, used)"
        " VALUES (:t, 'leads', 'epoch', 998) ON CONFLICT (tenant_id, metric, period_start)"
        " DO UPDATE SET used = 998",
        t=org.id,
    )
    files = Files()
    csv = HEADER + "".join(f"L{i},l{i}@x.io,,,,,\n" for i in range(4))
    job = _run(org, files, _import(org, files, csv), batch_size=10)
    assert (job.created_count, job.failed_count) == (2, 2)


def test_a_run_resumes_after_its_last_batch_and_two_runs_write_each_row_once(org: Org) -> None:
    files = Files()
    csv = HEADER + "".join(f"Lead {i},lead{i}@x.io,,,,,\n" for i in range(40))
    import_id = _import(org, files, csv)
    results: list[Any] = [None, None]
    barrier = threading.Barrier(2)

    def worker(i: int) -> None:
        barrier.wait()
        results[i] = _run(org, files, import_id, batch_size=4)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    job, _ = get_import(import_id, org.owner, unit_of_work=org.uow)
    assert job.status is ImportStatus.COMPLETED and job.created_count == 40
    assert len(org.listed()) == 40
    again = _run(org, files, import_id)  # a late duplicate invocation changes nothing
    assert again.created_count == 40 and len(org.listed()) == 40
    assert files.objects == {}


def test_the_file_goes_when_the_import_ends_even_if_the_first_delete_fails(org: Org) -> None:
    class FlakyFiles(Files):
        deletes = 0

        def delete(self, key: str) -> None:
            self.deletes += 1
            if self.deletes == 1:
                raise ConnectionError("S3 unavailable")
            super().delete(key)

    files = FlakyFiles()
    import_id = _import(org, files, HEADER + "Ana,ana@x.io,,,,,\n")
    with pytest.raises(ConnectionError):  # the invocation fails: Lambda retries it
        _run(org, files, import_id)
    assert len(files.objects) == 1
    retried = _run(org, files, import_id)  # the job has ended: only the delete is left to do
    assert retried.status is ImportStatus.COMPLETED and retried.created_count == 1
    assert files.objects == {} and len(org.listed()) == 1
    assert _run(org, files, import_id).status is ImportStatus.COMPLETED  # a late duplicate


def test_a_run_that_loses_the_file_to_a_finished_run_returns_the_ended_job(
    org: Org, admin_conn: Any
) -> None:
    files = Files()
    import_id = _import(org, files, HEADER + "Bo,bo@x.io,,,,,\n")
    key = next(iter(files.objects))
    finished_meanwhile = Files()
    finished_meanwhile.objects = dict(files.objects)
    files.objects.pop(key)
    with pytest.raises(KeyError):  # the file is missing and the job has not ended: retry
        _run(org, files, import_id)
    # the other run completes the job and deletes the file while this one starts: this one
    # finds the job ended when its read fails, and returns it
    _run(org, finished_meanwhile, import_id)
    assert finished_meanwhile.objects == {}
    admin_conn.run("UPDATE imports SET status = 'running' WHERE id = :id", id=import_id)

    class EndsWhileReading(Files):
        def read_bytes(self, key: str) -> bytes:
            admin_conn.run("UPDATE imports SET status = 'completed' WHERE id = :id", id=import_id)
            raise KeyError(key)

    ended = _run(org, EndsWhileReading(), import_id)
    assert ended.status is ImportStatus.COMPLETED and ended.created_count == 1


def test_files_that_cannot_be_imported_fail_the_job(org: Org) -> None:
    files = Files()
    cases = [
        "Name,Email\nx,y\n",  # the mapped columns are missing
        "",  # empty
    ]
    for csv in cases:
        job = _run(org, files, _import(org, files, csv))
        assert job.status is ImportStatus.FAILED and job.failure, csv
    assert files.objects == {}  # a failed import's file goes too
    latin1 = _import(org, files, "x")
    files.objects[next(k for k in files.objects if str(latin1) in k)] = "Nome\nJos\xe9\n".encode(
        "latin-1"
    )
    assert _run(org, files, latin1).failure == "the file is not UTF-8 text"


def test_upload_then_start_and_the_mapping_is_checked(org: Org) -> None:
    files, jobs = Files(), Jobs()
    body, _ = request_import(
        ImportRequest(mapping=MAPPING), org.ctx(), unit_of_work=org.uow, files=files, jobs=jobs,
        request={},
    )  # fmt: skip
    assert body["status"] == "awaiting_upload" and body["upload_url"].startswith("https://")
    import_id = uuid.UUID(body["id"])
    with pytest.raises(Conflict):
        start_import(import_id, org.ctx(), unit_of_work=org.uow, files=files, jobs=jobs)
    files.put(f"imports/{org.id}/{import_id}.csv", (HEADER + "Zé,ze@x.io,,,,,\n").encode())
    started = start_import(import_id, org.ctx(), unit_of_work=org.uow, files=files, jobs=jobs)
    assert started["status"] == "queued" and jobs.started == [
        {"tenant_id": str(org.id), "import_id": str(import_id)}
    ]
    assert _run(org, files, import_id).created_count == 1
    for mapping in ({"email": "E-mail"}, {"name": "Nome", "nope": "x"},
                    {"name": "Nome", "custom_fields.zzz": "x"}):  # fmt: skip
        with pytest.raises(ValidationFailed):
            _import(org, files, HEADER, mapping=mapping)
    with pytest.raises(Exception, match="not found"):
        get_import(import_id, org.ana, unit_of_work=org.uow)  # a seller sees only its own


def test_the_housekeeping_role_finds_stalled_imports_only(
    org: Org, admin_conn: Any, migrated: Any
) -> None:
    from datetime import UTC, datetime, timedelta

    from crm.adapters.postgres.connection import ConnectionPool
    from crm.adapters.postgres.housekeeping import PostgresExpiredRecords

    files = Files()
    stalled, fresh, done = (_import(org, files, HEADER + "A,a@x.io,,,,,\n") for _ in range(3))
    _run(org, files, done)
    admin_conn.run(
        "UPDATE imports SET updated_at = now() - interval '1 hour' WHERE id = ANY(CAST(:ids AS uuid[]))",
        ids=[str(stalled), str(done)],
    )
    pool = ConnectionPool(migrated.relay_url, size=1)
    try:
        found = PostgresExpiredRecords(pool).stalled_imports(
            datetime.now(UTC) - timedelta(minutes=10)
        )
    finally:
        pool.close()
    assert (org.id, stalled) in found
    assert all(import_id not in (fresh, done) for _, import_id in found)
