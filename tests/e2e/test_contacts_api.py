"""Contacts, lead conversion and the purge of expired deletions through the local cloud: every
contact route, bad input as 4xx problem+json, other tenants' ids as 404, the sellers' rule,
ETag and Idempotency-Key races, converting a lead into a contact and a deal in one step, deals
refusing unknown contacts, and the scheduled purge deleting what was deleted 30+ days ago."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from local.services import Endpoints
from tests.e2e.conftest import LocalCloudProcess
from tests.e2e.test_pipelines_deals import (
    PROBLEM,
    Org,
    _admin,
    _in_parallel,
    _org,
    _problem,
    _user,
)

pytestmark = pytest.mark.e2e


@pytest.fixture()
def admin(endpoints: Endpoints) -> Iterator[Any]:
    yield from _admin(endpoints)


def _contact(org: Org, **body: Any) -> dict[str, Any]:
    created = org.api.call("POST", "/contacts", {"name": "Contact", **body})
    assert created.status_code == 201, created.text
    return dict(created.json())


def _types(admin: Any, subject: str) -> list[str]:
    rows = admin.run("SELECT type FROM outbox WHERE aggregate = :a ORDER BY sequence", a=subject)
    return [row[0] for row in rows]


def test_contact_lifecycle(local_cloud: LocalCloudProcess, admin: Any) -> None:
    org = _org(local_cloud, admin, "Contacts")
    assert org.api.call("POST", "/tags", {"name": "vip"}).status_code == 201
    field = {"entity": "contact", "key": "birthday", "label": "Birthday", "type": "date"}
    assert org.api.call("POST", "/custom-fields", field).status_code == 201
    created = org.api.call(
        "POST", "/contacts",
        {"name": "Inês Araújo", "email": "ines@x.io", "job_title": "CFO",
         "custom_fields": {"birthday": "1990-02-28"}},
        **{"Idempotency-Key": "c-1"},
    )  # fmt: skip
    assert created.status_code == 201 and created.headers["ETag"] == '"1"', created.text
    contact = created.json()
    again = org.api.call(
        "POST", "/contacts",
        {"name": "Inês Araújo", "email": "ines@x.io", "job_title": "CFO",
         "custom_fields": {"birthday": "1990-02-28"}},
        **{"Idempotency-Key": "c-1"},
    )  # fmt: skip
    assert again.json()["id"] == contact["id"] and again.headers["Idempotent-Replayed"] == "true"
    dup = _problem(org.api.call("POST", "/contacts", {"name": "Other", "email": "INES@x.io"}), 409)
    assert dup["existing"] == f"/contacts/{contact['id']}"
    assert [c["name"] for c in org.api.get("/contacts", q="ines araujo").json()["items"]] == [
        "Inês Araújo"
    ]
    assert org.api.get("/contacts", q="cfo").json()["items"][0]["id"] == contact["id"]
    patched = org.api.call(
        "PATCH", f"/contacts/{contact['id']}", {"job_title": "CEO"}, **{"If-Match": '"1"'}
    )
    assert patched.status_code == 200 and patched.headers["ETag"] == '"2"'
    _problem(
        org.api.call("PATCH", f"/contacts/{contact['id']}", {"name": "x"}, **{"If-Match": '"1"'}),
        412,
    )
    tagged = org.api.call("POST", f"/contacts/{contact['id']}/tags/vip")
    assert tagged.json()["tags"] == ["vip"]
    assert org.api.get("/contacts", tag="vip").json()["items"][0]["id"] == contact["id"]
    assert org.api.get("/contacts", **{"cf.birthday": "1990-02-28"}).json()["items"]
    assert org.api.call("DELETE", f"/contacts/{contact['id']}/tags/vip").json()["tags"] == []
    history = org.api.get(f"/contacts/{contact['id']}/history").json()["items"]
    assert [(h["action"], h["field"]) for h in history] == [
        ("tagged", "tags"),
        ("tagged", "tags"),
        ("updated", "job_title"),
        ("created", None),
    ]
    assert org.api.call("DELETE", f"/contacts/{contact['id']}").status_code == 204
    _problem(org.api.get(f"/contacts/{contact['id']}"), 404)
    assert org.api.get("/contacts", deleted="true").json()["items"][0]["id"] == contact["id"]
    assert org.api.call("POST", f"/contacts/{contact['id']}/restore").status_code == 200
    note = org.api.call("POST", f"/contacts/{contact['id']}/notes", {"body": "Prefers email"})
    assert note.status_code == 201, note.text
    timeline = org.api.get(f"/contacts/{contact['id']}/timeline", limit=3).json()
    assert [i["type"] for i in timeline["items"]] == ["note", "change", "change"]
    assert timeline["items"][1]["action"] == "restored" and timeline["next_cursor"]
    assert _types(admin, f"contacts/{contact['id']}") == [
        "crm.contact.created",
        "crm.contact.updated",
        "crm.contact.updated",
        "crm.contact.tagged",
        "crm.contact.updated",
        "crm.contact.tagged",
        "crm.contact.deleted",
        "crm.contact.restored",
    ]


def test_converting_a_lead_makes_a_contact_and_a_deal_in_one_step(
    local_cloud: LocalCloudProcess, admin: Any
) -> None:
    org = _org(local_cloud, admin, "Converter")
    lead = org.api.call(
        "POST", "/leads", {"name": "Otávio Lima", "email": "otavio@x.io", "company": "Lima SA"}
    ).json()
    pipeline = org.default_pipeline()
    converted = org.api.call(
        "POST",
        f"/leads/{lead['id']}/convert",
        {"job_title": "Owner", "deal": {"title": "First order", "value": "1200.00"}},
        **{"Idempotency-Key": "convert-1", "If-Match": '"1"'},
    )
    assert converted.status_code == 200, converted.text
    body = converted.json()
    assert (
        body["lead"]["status"] == "converted"
        and body["lead"]["contact_id"] == body["contact"]["id"]
    )
    assert body["contact"]["lead_id"] == lead["id"] and body["contact"]["job_title"] == "Owner"
    assert body["contact"]["email"] == "otavio@x.io"
    assert (
        body["deal"]["lead_id"] == lead["id"]
        and body["deal"]["contact_id"] == body["contact"]["id"]
    )
    assert body["deal"]["pipeline_id"] == pipeline["id"]
    replay = org.api.call(
        "POST",
        f"/leads/{lead['id']}/convert",
        {"job_title": "Owner", "deal": {"title": "First order", "value": "1200.00"}},
        **{"Idempotency-Key": "convert-1"},
    )
    assert replay.status_code == 200 and replay.json()["deal"]["id"] == body["deal"]["id"]
    again = _problem(org.api.call("POST", f"/leads/{lead['id']}/convert", {}), 409)
    assert again["contact_id"] == body["contact"]["id"]
    assert _types(admin, f"leads/{lead['id']}")[-3:] == [
        "crm.lead.updated",
        "crm.lead.status_changed",
        "crm.lead.converted",
    ]
    # a second lead for the same person: its email is a contact's already -> 409 pointing at
    # it; converting into that contact instead works
    twin = org.api.call("POST", "/leads", {"name": "Otávio L.", "phone": "555 1234"}).json()
    org.api.call("PATCH", f"/contacts/{body['contact']['id']}", {"phone": "5551234"})
    clash = _problem(org.api.call("POST", f"/leads/{twin['id']}/convert", {}), 409)
    assert clash["existing"] == f"/contacts/{body['contact']['id']}"
    into = org.api.call(
        "POST", f"/leads/{twin['id']}/convert", {"contact_id": body["contact"]["id"]}
    )
    assert into.status_code == 200 and into.json()["contact"]["id"] == body["contact"]["id"]
    _problem(
        org.api.call("POST", f"/leads/{uuid.uuid4()}/convert", {"contact_id": str(uuid.uuid4())}),
        404,
    )
    lead3 = org.api.call("POST", "/leads", {"name": "Third"}).json()
    _problem(
        org.api.call("POST", f"/leads/{lead3['id']}/convert", {"contact_id": str(uuid.uuid4())}),
        404,
    )
    _problem(
        org.api.call(
            "POST",
            f"/leads/{lead3['id']}/convert",
            {"deal": {"title": "x", "lead_id": str(uuid.uuid4())}},
        ),
        422,
    )
    _problem(org.api.call("PATCH", f"/leads/{lead['id']}", {"status": "new"}), 422)


def test_deals_refuse_unknown_contacts(local_cloud: LocalCloudProcess, admin: Any) -> None:
    mine, theirs = _org(local_cloud, admin, "DealContacts"), _org(local_cloud, admin, "Other")
    contact = _contact(mine)
    deal = mine.deal(contact_id=contact["id"])
    assert deal["contact_id"] == contact["id"]
    _problem(theirs.api.call("POST", "/deals", {"title": "x", "contact_id": contact["id"]}), 422)
    _problem(mine.api.call("POST", "/deals", {"title": "x", "contact_id": str(uuid.uuid4())}), 422)
    patched = mine.api.call("PATCH", f"/deals/{deal['id']}", {"contact_id": str(uuid.uuid4())})
    _problem(patched, 422)


def test_expired_deletions_are_purged_by_the_schedule(
    local_cloud: LocalCloudProcess, admin: Any
) -> None:
    org = _org(local_cloud, admin, "Purged")
    old = org.api.call("POST", "/leads", {"name": "Old"}).json()
    recent = org.api.call("POST", "/leads", {"name": "Recent"}).json()
    contact = _contact(org, name="Old contact")
    deal = org.deal(lead_id=old["id"], contact_id=contact["id"])
    for path in (f"/leads/{old['id']}", f"/leads/{recent['id']}", f"/contacts/{contact['id']}"):
        assert org.api.call("DELETE", path).status_code == 204
    admin.run(
        "UPDATE leads SET deleted_at = now() - interval '31 days' WHERE id = CAST(:id AS uuid)",
        id=old["id"],
    )
    admin.run(
        "UPDATE contacts SET deleted_at = now() - interval '31 days' WHERE id = CAST(:id AS uuid)",
        id=contact["id"],
    )

    def gone() -> bool:  # the lead and the contact go in separate transactions
        lead = admin.run("SELECT 1 FROM leads WHERE id = CAST(:id AS uuid)", id=old["id"])
        person = admin.run("SELECT 1 FROM contacts WHERE id = CAST(:id AS uuid)", id=contact["id"])
        return not lead and not person

    deadline = time.monotonic() + 60
    while not gone():
        if time.monotonic() > deadline:
            pytest.fail("the purge schedule did not delete the expired lead and contact")
        time.sleep(0.5)
    assert not admin.run(
        "SELECT 1 FROM record_history WHERE lead_id = CAST(:id AS uuid)", id=old["id"]
    )
    assert admin.run("SELECT 1 FROM leads WHERE id = CAST(:id AS uuid)", id=recent["id"])
    kept = org.api.get(f"/deals/{deal['id']}").json()
    assert kept["lead_id"] is None and kept["contact_id"] is None  # the deal lets go of them
    assert [i["id"] for i in org.api.get("/leads", deleted="true").json()["items"]] == [
        recent["id"]
    ]


def test_another_tenants_ids_are_404_on_every_contact_route(
    local_cloud: LocalCloudProcess, admin: Any
) -> None:
    mine, theirs = _org(local_cloud, admin, "MineC"), _org(local_cloud, admin, "TheirsC")
    assert mine.api.call("POST", "/tags", {"name": "vip"}).status_code == 201
    contact = _contact(mine, tags=["vip"])
    lead = mine.api.call("POST", "/leads", {"name": "L"}).json()
    c = contact["id"]
    for method, path, body in [
        ("GET", f"/contacts/{c}", None),
        ("PATCH", f"/contacts/{c}", {"name": "stolen"}),
        ("DELETE", f"/contacts/{c}", None),
        ("POST", f"/contacts/{c}/restore", None),
        ("POST", f"/contacts/{c}/tags/vip", None),
        ("DELETE", f"/contacts/{c}/tags/vip", None),
        ("GET", f"/contacts/{c}/history", None),
        ("POST", f"/leads/{lead['id']}/convert", {}),
    ]:
        _problem(theirs.api.call(method, path, body), 404)
    own = theirs.api.call("POST", "/leads", {"name": "Theirs"}).json()
    _problem(theirs.api.call("POST", f"/leads/{own['id']}/convert", {"contact_id": c}), 404)
    assert theirs.api.get("/contacts").json()["items"] == []
    assert mine.api.get(f"/contacts/{c}").json()["name"] == "Contact"


def test_a_seller_sees_only_own_and_unassigned_contacts(
    local_cloud: LocalCloudProcess, admin: Any
) -> None:
    org = _org(local_cloud, admin, "ContactSellers")
    ana, ana_id = _user(local_cloud, admin, org, "seller")
    owners = _contact(org, name="owner's")
    _contact(org, name="nobody's", owner_id=None)
    anas = ana.call("POST", "/contacts", {"name": "ana's"}).json()
    assert anas["owner_id"] == ana_id
    _problem(ana.get(f"/contacts/{owners['id']}"), 404)
    _problem(ana.call("PATCH", f"/contacts/{owners['id']}", {"name": "x"}), 404)
    _problem(ana.get(f"/contacts/{owners['id']}/history"), 404)
    assert {c["name"] for c in ana.get("/contacts").json()["items"]} == {"ana's", "nobody's"}
    _problem(ana.call("PATCH", f"/contacts/{anas['id']}", {"owner_id": org.user_id}), 403)
    _problem(ana.call("DELETE", f"/contacts/{anas['id']}"), 403)
    lead = ana.call("POST", "/leads", {"name": "ana lead"}).json()
    converted = ana.call("POST", f"/leads/{lead['id']}/convert", {"contact_id": owners["id"]})
    _problem(converted, 404)  # not a contact ana can see


def test_contact_races_and_bad_input(local_cloud: LocalCloudProcess, admin: Any) -> None:
    org = _org(local_cloud, admin, "ContactFuzz")
    contact = _contact(org)
    results = _in_parallel(
        2,
        lambda i: org.api.call(
            "PATCH", f"/contacts/{contact['id']}", {"name": f"w{i}"}, **{"If-Match": '"1"'}
        ),
    )
    assert sorted(r.status_code for r in results) == [200, 412]
    posts = _in_parallel(
        5,
        lambda i: org.api.call("POST", "/contacts", {"name": "Once"}, **{"Idempotency-Key": "k1"}),
    )
    assert len({r.json()["id"] for r in posts}) == 1 and {r.status_code for r in posts} == {201}
    c = contact["id"]
    for method, path, body in [
        ("POST", "/contacts", {"name": 1}),
        ("POST", "/contacts", {"name": "x", "extra": 1}),
        ("POST", "/contacts", {"name": "x" * 201}),
        ("POST", "/contacts", {"name": "x", "email": "nope"}),
        ("POST", "/contacts", {"name": "x", "job_title": "y" * 201}),
        ("POST", "/contacts", {"name": "x", "custom_fields": {"nope": 1}}),
        ("POST", "/contacts", {"name": "x", "tags": ["missing"]}),
        ("POST", "/contacts", {"name": "x", "score": 5}),
        ("PATCH", f"/contacts/{c}", {"name": None}),
        ("PATCH", f"/contacts/{c}", {"status": "lost"}),
        ("POST", f"/contacts/{c}/tags/missing", None),
    ]:
        response = org.api.call(method, path, body)
        assert 400 <= response.status_code < 500, (method, path, body, response.text)
        assert response.headers["content-type"] == PROBLEM, response.text
    for params in (
        {"sort": "score"},
        {"cursor": "zzz"},
        {"limit": 500},
        {"cf.nope": "x"},
        {"created_after": "yesterday"},
    ):
        _problem(org.api.get("/contacts", **params), 422)
    _problem(org.api.get("/contacts/not-a-uuid"), 404)
