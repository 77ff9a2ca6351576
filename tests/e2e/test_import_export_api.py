"""Imports and exports through the local cloud: a 100,000-row CSV with bad rows and
duplicates uploaded to S3 (embedded moto), run by the worker function (invoked
asynchronously), every row accounted for — created, skipped or reported — and the per-row
error report; small inline imports, the update policy, sellers and other tenants; CSV exports
inline and, past 10,000 rows, through a download link."""

from __future__ import annotations

import csv
import io
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests

from local.services import Endpoints
from tests.e2e.conftest import LocalCloudProcess, WebhookReceiver
from tests.e2e.test_pipelines_deals import Org, _admin, _org, _problem, _user
from tests.e2e.test_walking_skeleton import webhook_workflow

pytestmark = pytest.mark.e2e

ROWS = 100_000
MAPPING = {"name": "Nome", "email": "E-mail", "phone": "Telefone", "company": "Empresa",
           "tags": "Etiquetas"}  # fmt: skip


@pytest.fixture()
def admin(endpoints: Endpoints) -> Iterator[Any]:
    yield from _admin(endpoints)


def _wait(org: Org, import_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = org.api.get(f"/imports/{import_id}").json()
        if job["status"] in ("completed", "failed"):
            return job
        time.sleep(1)
    pytest.fail(f"the import did not finish in {timeout} s: {job}")


def files_bucket(cloud: LocalCloudProcess) -> tuple[Any, str]:
    """An S3 client of the local cloud's embedded moto, and the name of its ImportsBucket."""
    s3 = boto3.client(
        "s3", endpoint_url=cloud.moto_url, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    [bucket] = [
        b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith("importsbucket-")
    ]
    return s3, bucket


def stored_files(cloud: LocalCloudProcess, prefix: str) -> list[str]:
    """The keys under `prefix` in the local cloud's ImportsBucket."""
    s3, bucket = files_bucket(cloud)
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for item in listed.get("Contents", [])]


def _big_csv() -> tuple[bytes, dict[str, set[int]]]:
    """100,000 rows; by row number (1 = first data row): bad emails, nameless rows, unknown
    tags, and rows repeating the email of a lead that exists before the import."""
    expected: dict[str, set[int]] = {"email": set(), "name": set(), "tags": set(), "dup": set()}
    out = io.StringIO()
    out.write("Nome,E-mail,Telefone,Empresa,Etiquetas\n")
    for index in range(ROWS):
        row = index + 1
        name, email, tags = f"Pessoa {row}", f"pessoa{row}@big{row % 97}.example.com", "vip"
        if row % 100 == 7:
            email = f"not-an-email-{row}"
            expected["email"].add(row)
        elif row % 200 == 13:
            name = ""
            expected["name"].add(row)
        elif row % 500 == 21:
            tags = "vip;nope"
            expected["tags"].add(row)
        elif row % 250 == 40:
            email = "existing@example.com"
            expected["dup"].add(row)
        out.write(f'"{name}",{email},+55 11 9{row:08d},"Empresa, {row % 1000}",{tags}\n')
    return out.getvalue().encode(), expected


def test_a_100k_row_import_with_bad_rows_loses_nothing(
    local_cloud: LocalCloudProcess, admin: Any
) -> None:
    org = _org(local_cloud, admin, "BigImport", plan="enterprise")
    assert org.api.call("POST", "/tags", {"name": "vip"}).status_code == 201
    assert (
        org.api.call(
            "POST", "/leads", {"name": "Existing", "email": "existing@example.com"}
        ).status_code
        == 201
    )
    data, expected = _big_csv()
    requested = org.api.call(
        "POST", "/leads/import", {"mapping": MAPPING, "file_name": "big.csv"},
        **{"Idempotency-Key": "big-import"},
    )  # fmt: skip
    assert requested.status_code == 201, requested.text
    job = requested.json()
    assert job["status"] == "awaiting_upload" and job["upload_url"]
    _problem(org.api.call("POST", f"/imports/{job['id']}/start"), 409)  # nothing uploaded yet
    uploaded = requests.put(
        job["upload_url"], data=data, headers={"Content-Type": "text/csv"}, timeout=120
    )
    assert uploaded.status_code == 200, uploaded.text
    started = time.monotonic()
    assert org.api.call("POST", f"/imports/{job['id']}/start").status_code == 202
    finished = _wait(org, job["id"], timeout=110)
    elapsed = time.monotonic() - started
    print(f"\n100,000-row import: {elapsed:.1f} s, {ROWS / elapsed:.0f} rows/s")

    bad = expected["email"] | expected["name"] | expected["tags"]
    assert finished["status"] == "completed", finished
    assert finished["total_rows"] == finished["processed_rows"] == ROWS
    assert finished["failed"] == len(bad)
    assert finished["skipped"] == len(expected["dup"])
    assert finished["created"] == ROWS - len(bad) - len(expected["dup"])
    assert finished["created"] + finished["failed"] + finished["skipped"] == ROWS  # nothing lost

    reported: dict[int, list[str]] = {}
    after = 0
    while after is not None:
        page = org.api.get(f"/imports/{job['id']}", errors_after=after, errors_limit=500).json()
        for error in page["errors"]:
            reported[error["row"]] = [e["field"] for e in error["errors"]]
        after = page["errors_next"]
    assert set(reported) == bad
    assert {row for row, fields in reported.items() if fields == ["email"]} == expected["email"]
    assert {row for row, fields in reported.items() if fields == ["name"]} == expected["name"]
    assert {row for row, fields in reported.items() if fields == ["tags"]} == expected["tags"]

    stored = admin.run(
        "SELECT count(*) FROM leads WHERE tenant_id = CAST(:t AS uuid) AND deleted_at IS NULL",
        t=org.id,
    )
    assert stored == [[finished["created"] + 1]]
    found = org.api.get("/leads", q="pessoa 99999").json()["items"]
    assert [lead["company"] for lead in found] == ["Empresa, 999"]
    assert found[0]["tags"] == ["vip"] and found[0]["source"] == "import"

    # the whole tenant exported: past 10,000 rows, a download link (S3)
    exported = org.api.get("/leads/export", tag="vip")
    assert exported.status_code == 200, exported.text
    link = exported.json()
    assert link["rows"] == finished["created"] and link["url"]
    downloaded = requests.get(link["url"], timeout=120)
    assert downloaded.status_code == 200
    rows = list(csv.DictReader(io.StringIO(downloaded.text)))
    assert len(rows) == finished["created"]
    assert {"id", "name", "email", "tags", "created_at"} <= set(rows[0])


def test_inline_import_update_policy_and_access(local_cloud: LocalCloudProcess, admin: Any) -> None:
    org = _org(local_cloud, admin, "SmallImport")
    field = {"entity": "lead", "key": "size", "label": "Size", "type": "number"}
    assert org.api.call("POST", "/custom-fields", field).status_code == 201
    existing = org.api.call("POST", "/leads", {"name": "Old Name", "email": "a@x.io"}).json()
    csv_text = "Name,Email,Size\nNew Name,A@x.io,12\nBrand New,b@x.io,3\nBad,c@x.io,big\n"
    mapping = {"name": "Name", "email": "Email", "custom_fields.size": "Size"}
    created = org.api.call(
        "POST", "/leads/import", {"mapping": mapping, "dedup_policy": "update", "csv": csv_text}
    )
    assert created.status_code == 201 and created.json()["status"] == "queued", created.text
    job = _wait(org, created.json()["id"], timeout=60)
    assert (job["created"], job["updated"], job["failed"]) == (1, 1, 1), job
    assert job["errors"] == [
        {
            "row": 3,
            "errors": [
                {"column": "Size", "field": "custom_fields.size", "msg": "must be a number"}
            ],
        }
    ]
    lead = org.api.get(f"/leads/{existing['id']}").json()
    assert lead["name"] == "New Name" and lead["custom_fields"] == {"size": 12}
    # the uploaded file (personal data) is deleted once the import has ended
    assert stored_files(local_cloud, f"imports/{org.id}/") == []
    assert "crm.lead.imported" in {
        row[0] for row in admin.run(
            "SELECT type FROM outbox WHERE tenant_id = CAST(:t AS uuid)", t=org.id)
    }  # fmt: skip

    seller, _ = _user(local_cloud, admin, org, "seller")
    _problem(seller.get(f"/imports/{job['id']}"), 404)  # not the seller's import
    other = _org(local_cloud, admin, "OtherImporter")
    _problem(other.api.get(f"/imports/{job['id']}"), 404)
    _problem(other.api.call("POST", f"/imports/{job['id']}/start"), 404)
    viewer, _ = _user(local_cloud, admin, org, "viewer")
    assert (
        _problem(viewer.call("POST", "/leads/import", {"mapping": mapping}), 403)["permission"]
        == "leads:create"
    )

    for body in (
        {},
        {"mapping": {}},
        {"mapping": {"email": "Email"}},  # no name
        {"mapping": {"name": "Name", "nope": "X"}},
        {"mapping": {"name": "Name", "custom_fields.zzz": "X"}},
        {"mapping": mapping, "dedup_policy": "merge"},
        {"mapping": mapping, "tags": ["missing"]},
        {"mapping": mapping, "csv": "x" * (4 * 1024 * 1024 + 1)},
        {"mapping": mapping, "owner_id": str(uuid.uuid4())},
    ):
        _problem(org.api.call("POST", "/leads/import", body), 422)
    for path in (f"/imports/{uuid.uuid4()}", "/imports/not-a-uuid"):
        _problem(org.api.get(path), 404)
    _problem(org.api.get(f"/imports/{job['id']}", errors_limit=0), 422)


def test_an_import_runs_lead_created_automations_only_when_asked(
    local_cloud: LocalCloudProcess, admin: Any, webhook_receiver: WebhookReceiver
) -> None:
    org = _org(local_cloud, admin, "AutoImport")
    automation = org.api.call(
        "POST", "/automations",
        {"name": "Welcome", "workflow": webhook_workflow(webhook_receiver.url), "publish": True},
    )  # fmt: skip
    assert automation.status_code == 201, automation.text
    mapping = {"name": "Name", "email": "Email"}
    quiet = org.api.call(
        "POST", "/leads/import", {"mapping": mapping, "csv": "Name,Email\nQuiet,q@x.io\n"}
    )
    assert quiet.json()["trigger_automations"] is False
    assert _wait(org, quiet.json()["id"], timeout=60)["created"] == 1
    csv_text = "Name,Email\n" + "".join(f"Ana {n},ana{n}@x.io\n" for n in range(3))
    loud = org.api.call(
        "POST", "/leads/import", {"mapping": mapping, "csv": csv_text, "trigger_automations": True}
    )
    assert loud.status_code == 201 and loud.json()["trigger_automations"] is True, loud.text
    assert _wait(org, loud.json()["id"], timeout=60)["created"] == 3
    webhook_receiver.wait_for(3)
    # a sentinel lead created after both imports: once its webhook arrives, the quiet
    # import's lead (created before it) would have arrived too
    assert org.api.call("POST", "/leads", {"name": "Sentinel"}).status_code == 201
    delivered = webhook_receiver.wait_for(4)
    names = sorted(hook["body"]["event"]["data"]["lead"]["name"] for hook in delivered)
    assert names == ["Ana 0", "Ana 1", "Ana 2", "Sentinel"], local_cloud.log_tail()
    assert {hook["body"]["event"]["type"] for hook in delivered} == {"crm.lead.created"}
    _problem(
        org.api.call("POST", "/leads/import", {"mapping": mapping, "trigger_automations": "maybe"}),
        422,
    )


def test_inline_exports_follow_the_list_filters(local_cloud: LocalCloudProcess, admin: Any) -> None:
    org = _org(local_cloud, admin, "Exporter")
    assert org.api.call("POST", "/tags", {"name": "vip"}).status_code == 201
    org.api.call("POST", "/leads", {"name": "João", "email": "j@x.io", "tags": ["vip"]})
    org.api.call("POST", "/leads", {"name": '=HYPERLINK("http://evil")', "status": "qualified"})
    org.api.call("POST", "/contacts", {"name": "Inês", "job_title": "CFO"})
    exported = org.api.get("/leads/export", sort="name", order="asc")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["name"] for r in rows] == ['\'=HYPERLINK("http://evil")', "João"]  # no formulas
    assert rows[1]["tags"] == "vip" and rows[1]["email"] == "j@x.io"
    only_vip = list(csv.DictReader(io.StringIO(org.api.get("/leads/export", tag="vip").text)))
    assert [r["name"] for r in only_vip] == ["João"]
    searched = list(csv.DictReader(io.StringIO(org.api.get("/leads/export", q="joao").text)))
    assert len(searched) == 1
    contacts = list(csv.DictReader(io.StringIO(org.api.get("/contacts/export").text)))
    assert [(c["name"], c["job_title"]) for c in contacts] == [("Inês", "CFO")]
    seller, _ = _user(local_cloud, admin, org, "seller")
    assert list(csv.DictReader(io.StringIO(seller.get("/leads/export").text))) == []
    _problem(org.api.get("/leads/export", status="maybe"), 422)
    _problem(org.api.get("/contacts/export", sort="score"), 422)
    other = _org(local_cloud, admin, "OtherExporter")
    assert list(csv.DictReader(io.StringIO(other.api.get("/leads/export").text))) == []
