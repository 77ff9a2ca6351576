"""GDPR export and erasure through the local cloud: owners and admins only, everything held
about the person in the export, and after erasure no trace of their data in the records, the
history, the notes, the outbox, stored Idempotency-Key responses or the audit log — while
counts and the OpenSearch report stay as they were, and other people and tenants are
untouched."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local.services import Endpoints
from tests.e2e.conftest import LocalCloudProcess
from tests.e2e.test_import_export_api import files_bucket, stored_files
from tests.e2e.test_pipelines_deals import _admin, _org, _problem, _user

pytestmark = pytest.mark.e2e

EMAIL = "maria.conceicao@example.com"


@pytest.fixture()
def admin(endpoints: Endpoints) -> Iterator[Any]:
    yield from _admin(endpoints)


def _eventually(check: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.3)
    return False


def test_export_and_erase_a_person(local_cloud: LocalCloudProcess, admin: Any) -> None:
    org = _org(local_cloud, admin, "Privacy")
    field = {"entity": "lead", "key": "cpf", "label": "CPF", "type": "text"}
    assert org.api.call("POST", "/custom-fields", field).status_code == 201
    lead = org.api.call(
        "POST", "/leads",
        {"name": "Maria Conceição", "email": EMAIL, "phone": "+55 11 91234-5678",
         "company": "Padaria Maria", "source": "web", "custom_fields": {"cpf": "123.456.789-00"}},
        **{"Idempotency-Key": "maria-lead"},
    ).json()  # fmt: skip
    org.api.call("PATCH", f"/leads/{lead['id']}", {"name": "Maria C. Silva", "status": "qualified"})
    org.api.call("POST", f"/leads/{lead['id']}/notes", {"body": "Maria's daughter is Ana"})
    mailed = org.api.call("POST", "/emails", {"to": {"type": "lead", "id": lead["id"]},
                                              "subject": "Olá Maria", "text": "Oi Maria"}).json()  # fmt: skip
    converted = org.api.call(
        "POST", f"/leads/{lead['id']}/convert", {"deal": {"title": "Bakery order"}}
    ).json()
    other = org.api.call("POST", "/leads", {"name": "Someone Else", "email": "else@x.io"}).json()
    theirs = _org(local_cloud, admin, "OtherTenant")
    their_lead = theirs.api.call("POST", "/leads", {"name": "Maria", "email": EMAIL}).json()

    def report() -> dict[str, Any]:
        body: dict[str, Any] = org.api.get("/reports/leads").json()
        return body

    assert _eventually(lambda: report().get("total") == 2), report()
    before_report = report()

    exported = org.api.get("/gdpr/export", email=EMAIL.upper())
    assert exported.status_code == 200, exported.text
    bundle = exported.json()
    assert [item["id"] for item in bundle["leads"]] == [lead["id"]]
    assert [item["id"] for item in bundle["contacts"]] == [converted["contact"]["id"]]
    assert [item["id"] for item in bundle["deals"]] == [converted["deal"]["id"]]
    assert [n["body"] for n in bundle["notes"]] == ["Maria's daughter is Ana"]
    assert {h["action"] for h in bundle["history"]} >= {"created", "updated", "converted"}

    # large exports stored for download: any of them may hold the person
    s3, bucket = files_bucket(local_cloud)
    for tenant_id in (org.id, org.id, theirs.id):
        key = f"exports/{tenant_id}/{time.monotonic_ns()}.csv"
        s3.put_object(Bucket=bucket, Key=key, Body=f"name,email\nMaria,{EMAIL}\n".encode())

    erased = org.api.call("POST", "/gdpr/erase", {"email": EMAIL}, **{"Idempotency-Key": "e1"})
    assert erased.status_code == 200, erased.text
    counts = erased.json()
    assert (counts["leads"], counts["contacts"]) == (1, 1)
    assert counts["export_files"] == 2
    assert stored_files(local_cloud, f"exports/{org.id}/") == []
    assert len(stored_files(local_cloud, f"exports/{theirs.id}/")) == 1  # another tenant's
    assert counts["history_rows"] > 0 and counts["notes"] == 1 and counts["events"] > 0
    assert counts["stored_responses"] >= 1
    assert counts["emails"] == 1
    scrubbed = org.api.get(f"/emails/{mailed['id']}").json()
    assert (scrubbed["to"], scrubbed["subject"], scrubbed["text"]) == (
        "erased@erased.invalid", "[erased]", None,
    )  # fmt: skip
    replay = org.api.call("POST", "/gdpr/erase", {"email": EMAIL}, **{"Idempotency-Key": "e1"})
    assert replay.json() == counts and replay.headers["Idempotent-Replayed"] == "true"

    after = org.api.get(f"/leads/{lead['id']}").json()
    assert after["name"] == "[erased]" and after["email"] is None and after["phone"] is None
    assert after["custom_fields"] == {} and after["status"] == "converted"  # aggregates stay
    contact = org.api.get(f"/contacts/{converted['contact']['id']}").json()
    assert contact["name"] == "[erased]" and contact["email"] is None
    assert org.api.get(f"/deals/{converted['deal']['id']}").json()["title"] == "Bakery order"
    assert org.api.get("/gdpr/export", email=EMAIL).json()["leads"] == []

    # no trace of the person anywhere the tenant's data is kept
    traces = [
        "Maria", "Conceição", "Conceicao", EMAIL, "91234", "123.456.789", "Padaria", "daughter",
    ]  # fmt: skip
    for table, column in (
        ("leads", "CAST(l AS text)"),
        ("contacts", "CAST(l AS text)"),
        ("record_history", "CAST(l AS text)"),
        ("notes", "CAST(l AS text)"),
        ("outbox", "CAST(l.envelope AS text)"),
        ("idempotency_keys", "CAST(l.response AS text)"),
        ("audit_log", "CAST(l AS text)"),
        ("lead_search", "CAST(l AS text)"),
        ("contact_search", "CAST(l AS text)"),
    ):
        rows = admin.run(
            f"SELECT {column} FROM {table} l WHERE l.tenant_id = CAST(:t AS uuid)", t=org.id
        )
        text = "\n".join(str(row[0]) for row in rows)
        found = [trace for trace in traces if trace.lower() in text.lower()]
        assert not found, (table, found)
    assert admin.run(
        "SELECT count(*) FROM audit_log WHERE tenant_id = CAST(:t AS uuid)"
        " AND action IN ('gdpr.exported', 'gdpr.erased') AND entity_type = 'person'",
        t=org.id,
    ) == [[3]]  # two exports, one erasure
    types = [
        row[0]
        for row in admin.run(
            "SELECT type FROM outbox WHERE aggregate = :a ORDER BY sequence",
            a=f"leads/{lead['id']}",
        )
    ]
    assert types[-1] == "crm.lead.erased"

    # counts and the report do not change; other people and tenants are untouched
    # a sentinel lead created after the erasure: once the report counts it, the erasure's
    # events (published before it) have reached the indexer too
    assert org.api.call("POST", "/leads", {"name": "Sentinel"}).status_code == 201
    assert _eventually(lambda: report().get("total") == 3), report()
    by_status = dict(before_report["by_status"])
    by_status["new"] = by_status.get("new", 0) + 1
    assert report() == {**before_report, "total": 3, "by_status": by_status}
    assert org.api.get(f"/leads/{other['id']}").json()["email"] == "else@x.io"
    assert theirs.api.get(f"/leads/{their_lead['id']}").json()["email"] == EMAIL
    doc_fields = json.dumps(before_report)
    assert "Maria" not in doc_fields


def test_only_owners_and_admins_export_or_erase(local_cloud: LocalCloudProcess, admin: Any) -> None:
    org = _org(local_cloud, admin, "GdprRoles")
    for role in ("manager", "seller", "viewer"):
        api, _ = _user(local_cloud, admin, org, role)
        body = _problem(api.get("/gdpr/export", email=EMAIL), 403)
        assert body["permission"] == "gdpr:export"
        _problem(api.call("POST", "/gdpr/erase", {"email": EMAIL}), 403)
    administrator, _ = _user(local_cloud, admin, org, "admin")
    assert administrator.get("/gdpr/export", email=EMAIL).status_code == 200
    assert administrator.call("POST", "/gdpr/erase", {"email": EMAIL}).json()["leads"] == 0


def test_bad_input_is_a_422(local_cloud: LocalCloudProcess, admin: Any) -> None:
    org = _org(local_cloud, admin, "GdprInput")
    _problem(org.api.get("/gdpr/export"), 422)
    _problem(org.api.get("/gdpr/export", email="not-an-email"), 422)
    _problem(org.api.get("/gdpr/export", email="x" * 250 + "@x.io"), 422)
    for body in ({}, {"email": "nope"}, {"email": EMAIL, "extra": 1}, {"email": 5}):
        _problem(org.api.call("POST", "/gdpr/erase", body), 422)
