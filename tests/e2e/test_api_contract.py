"""The API contract at its edges, through the local cloud: requests that used to answer 500
(or drop the connection) answer the client error the document names, as problem+json.

Each case is one that schemathesis found against /openapi.json (issue 15), reproduced by hand."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.services import Endpoints
from tests.e2e.conftest import LocalCloudProcess
from tests.e2e.test_pipelines_deals import PROBLEM, Org, _admin, _org, _problem

pytestmark = pytest.mark.e2e


@pytest.fixture()
def admin(endpoints: Endpoints) -> Iterator[Any]:
    yield from _admin(endpoints)


@pytest.fixture()
def org(local_cloud: LocalCloudProcess, admin: Any) -> Org:
    return _org(local_cloud, admin, "Contract")


def _raw(org: Org, method: str, path: str, data: bytes, content_type: str) -> requests.Response:
    return org.api.session.request(
        method,
        org.api.base_url + path,
        data=data,
        headers={"Content-Type": content_type},
        timeout=30,
    )


def _field(problem: dict[str, Any]) -> list[Any]:
    return list(problem["errors"][0]["loc"])


def _lead_count(admin: Any, tenant_id: str) -> int:
    rows = admin.run("SELECT count(*) FROM leads WHERE tenant_id = CAST(:t AS uuid)", t=tenant_id)
    return int(rows[0][0])


def test_a_body_that_is_not_json_is_415(local_cloud: LocalCloudProcess, org: Org) -> None:
    login = requests.post(
        f"{local_cloud.url}/auth/login",
        data=b"email=a@b.c",
        headers={"Content-Type": "text/plain"},
        timeout=30,
    )
    assert _problem(login, 415)["type"].endswith("/unsupported-media-type")
    for content_type in ("text/plain", "multipart/form-data; boundary=x"):
        created = _raw(org, "POST", "/leads", b'{"name": "x"}', content_type)
        _problem(created, 415)
    assert org.api.call("POST", "/leads", {"name": "Still fine"}).status_code == 201


def test_bytes_that_are_not_utf8_are_422(org: Org, admin: Any) -> None:
    lead = org.api.call("POST", "/leads", {"name": "Ana"}).json()
    patched = _raw(
        org, "PATCH", f"/leads/{lead['id']}", b'{"name": "\xc3\x28"}', "application/json"
    )
    assert _field(_problem(patched, 422)) == ["body"]
    assert org.api.get(f"/leads/{lead['id']}").json()["name"] == "Ana"


def test_a_nul_character_anywhere_is_422_and_writes_nothing(org: Org, admin: Any) -> None:
    before = _lead_count(admin, org.id)
    created = org.api.call("POST", "/leads", {"name": "a\u0000b"})
    assert _field(_problem(created, 422)) == ["body", "name"]
    nested = org.api.call("POST", "/leads", {"name": "ok", "custom_fields": {"k": ["x\u0000"]}})
    assert _field(_problem(nested, 422)) == ["body", "custom_fields", "k", 0]
    surrogate = _raw(org, "POST", "/leads", b'{"name": "\\ud800"}', "application/json")
    assert _field(_problem(surrogate, 422)) == ["body", "name"]
    assert _field(_problem(org.api.get("/leads", q="a\x00"), 422)) == ["query", "q"]
    assert _lead_count(admin, org.id) == before


def test_malformed_query_values_are_422(org: Org) -> None:
    for value in ("not-a-uuid", ""):
        listed = org.api.session.get(
            org.api.base_url + "/audit-logs", params={"actor_id": value}, timeout=30
        )
        assert _field(_problem(listed, 422)) == ["query", "actor_id"]
    assert org.api.get("/audit-logs", actor_id=org.user_id).status_code == 200
    imported = org.api.call(
        "POST", "/leads/import", {"mapping": {"name": "Name"}, "csv": "Name\nAna\n"}
    )
    assert imported.status_code == 201, imported.text
    path = f"/imports/{imported.json()['id']}"
    assert org.api.get(path, errors_after=2147483647).status_code == 200
    _problem(org.api.get(path, errors_after=22195562721), 422)


def test_booleans_and_dates_are_strict(org: Org) -> None:
    role = {"key": "lax", "name": "Lax", "permissions": ["leads:read"], "own_records_only": 0}
    assert _field(_problem(org.api.call("POST", "/roles", role), 422)) == [
        "body",
        "own_records_only",
    ]
    assert org.api.call("POST", "/roles", {**role, "own_records_only": False}).status_code == 201
    for params in ({"to": "0"}, {"from": "1700000000"}):
        _problem(org.api.get("/reports/pipelines", **params), 422)
    _problem(org.api.get("/leads", created_after="0"), 422)
    assert org.api.get("/reports/pipelines", to="2026-01-31").status_code == 200


def test_location_headers_percent_encode_the_name(org: Org) -> None:
    for name, encoded in (("営業", "%E5%96%B6%E6%A5%AD"), ("a b/c?d", "a%20b%2Fc%3Fd")):
        created = org.api.call("POST", "/tags", {"name": name})
        assert created.status_code == 201, created.text
        assert created.headers["Location"] == f"/tags/{encoded}"
        category = org.api.call("POST", "/categories", {"name": name})
        assert category.status_code == 201, category.text
        assert category.headers["Location"].isascii()
        deleted = org.api.call("DELETE", created.headers["Location"])
        assert deleted.status_code == 200, deleted.text


def test_undeclared_methods_answer_as_api_gateway(local_cloud: LocalCloudProcess) -> None:
    for method, path in (("TRACE", "/leads"), ("QUERY", "/leads"), ("GET", "/no-such-route")):
        response = requests.request(method, local_cloud.url + path, timeout=30)
        body = _problem(response, 403)
        assert body["type"].endswith("/no-such-route")


def test_an_idempotent_replay_answers_the_same_bytes(org: Org) -> None:
    key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    body = {"name": "Zed", "email": f"zed-{uuid.uuid4().hex[:6]}@x.io", "source": "web"}
    first = org.api.call("POST", "/leads", body, **key)
    again = org.api.call("POST", "/leads", body, **key)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    tag = org.api.call("POST", "/tags", {"name": "replayed", "color": "#ff0000"}, **key)
    tag_again = org.api.call("POST", "/tags", {"name": "replayed", "color": "#ff0000"}, **key)
    assert tag.status_code == tag_again.status_code == 201
    assert tag_again.content == tag.content
    assert tag_again.headers["content-type"] != PROBLEM


def test_get_imports_lists_the_tenants_imports_newest_first(
    local_cloud: LocalCloudProcess, admin: Any, org: Org
) -> None:
    mapping = {"name": "Name"}
    made = [
        org.api.call("POST", "/leads/import", {"mapping": mapping, "csv": f"Name\nLead {n}\n"})
        for n in range(2)
    ]
    assert [response.status_code for response in made] == [201, 201], made[-1].text
    first = org.api.get("/imports", limit=1)
    assert first.status_code == 200, first.text
    assert [job["id"] for job in first.json()["items"]] == [made[1].json()["id"]]
    rest = org.api.get("/imports", limit=1, cursor=first.json()["next_cursor"]).json()
    assert [job["id"] for job in rest["items"]] == [made[0].json()["id"]]
    assert rest["next_cursor"] is None
    assert {"status", "created", "failed", "progress"} <= set(rest["items"][0])
    other = _org(local_cloud, admin, "OtherImports")
    assert other.api.get("/imports").json()["items"] == []
