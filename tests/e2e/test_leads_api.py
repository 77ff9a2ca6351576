"""Leads, tags, categories and custom fields through the local cloud's gateway (authorizer, API
gate, handlers, real PostgreSQL, RabbitMQ and OpenSearch): every route, bad input as 4xx
problem+json (never 500), other tenants' ids as 404, the sellers' record-level rule,
ETag/If-Match and Idempotency-Key races, search, filters and cursors, duplicates, history,
the events in the outbox and the OpenSearch report following updates and deletes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local.services import Endpoints
from tests.e2e.conftest import LocalCloudProcess, WebhookReceiver
from tests.e2e.test_pipelines_deals import (
    PROBLEM,
    Org,
    _admin,
    _in_parallel,
    _org,
    _problem,
    _user,
)
from tests.e2e.test_walking_skeleton import webhook_workflow

pytestmark = pytest.mark.e2e


@pytest.fixture()
def admin(endpoints: Endpoints) -> Iterator[Any]:
    yield from _admin(endpoints)


def _lead(org: Org, **body: Any) -> dict[str, Any]:
    created = org.api.call("POST", "/leads", {"name": "Lead", **body})
    assert created.status_code == 201, created.text
    return dict(created.json())


def _setup_lists(org: Org) -> None:
    for tag in ("vip", "hot"):
        assert org.api.call("POST", "/tags", {"name": tag}).status_code == 201
    assert org.api.call("POST", "/categories", {"name": "Retail"}).status_code == 201
    field = {"entity": "lead", "key": "segment", "label": "Segment", "type": "select",
             "options": ["smb", "ent"]}  # fmt: skip
    assert org.api.call("POST", "/custom-fields", field).status_code == 201
    budget = {"entity": "lead", "key": "budget", "label": "Budget", "type": "number"}
    assert org.api.call("POST", "/custom-fields", budget).status_code == 201


def _walk(org: Org, **params: Any) -> list[dict[str, Any]]:
    items, cursor = [], None
    while True:
        page = org.api.get("/leads", limit=2, **params, **({"cursor": cursor} if cursor else {}))
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items


def _eventually(check: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.3)
    return False


def _outbox_types(admin: Any, lead_id: str) -> list[str]:
    rows = admin.run(
        "SELECT type FROM outbox WHERE aggregate = :a ORDER BY sequence", a=f"leads/{lead_id}"
    )
    return [row[0] for row in rows]


# ------------------------------------------------------------------ lifecycle


def test_lead_lifecycle_history_events_and_report(
    local_cloud: LocalCloudProcess, admin: Any
) -> None:
    org = _org(local_cloud, admin, "Leadership")
    _setup_lists(org)
    created = org.api.call(
        "POST",
        "/leads",
        {"name": "João Silva", "email": "Joao@Example.com", "phone": "+55 11 98888-7777",
         "tags": ["VIP"], "category": "Retail", "score": 40,
         "custom_fields": {"segment": "smb", "budget": 1000}},
        **{"Idempotency-Key": "lead-1"},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    lead = created.json()
    assert (
        created.headers["ETag"] == '"1"' and created.headers["Location"] == f"/leads/{lead['id']}"
    )
    assert lead["email"] == "joao@example.com" and lead["tags"] == ["vip"]
    read = org.api.get(f"/leads/{lead['id']}")
    assert read.status_code == 200 and read.headers["ETag"] == '"1"'

    lost = org.api.call("PATCH", f"/leads/{lead['id']}", {"status": "lost"})
    assert _problem(lost, 422)["errors"][0]["loc"] == ["body", "lost_reason"]
    _problem(org.api.call("PATCH", f"/leads/{lead['id']}", {"status": "converted"}), 422)
    patched = org.api.call(
        "PATCH",
        f"/leads/{lead['id']}",
        {"status": "lost", "lost_reason": "budget", "custom_fields": {"budget": None}},
        **{"If-Match": '"1"'},
    )
    assert patched.status_code == 200 and patched.headers["ETag"] == '"2"', patched.text
    assert patched.json()["custom_fields"] == {"segment": "smb"}
    _problem(
        org.api.call("PATCH", f"/leads/{lead['id']}", {"name": "late"}, **{"If-Match": '"1"'}), 412
    )
    tagged = org.api.call("POST", f"/leads/{lead['id']}/tags/hot")
    assert tagged.status_code == 200 and tagged.json()["tags"] == ["vip", "hot"]
    untagged = org.api.call("DELETE", f"/leads/{lead['id']}/tags/vip")
    assert untagged.json()["tags"] == ["hot"]

    history = org.api.get(f"/leads/{lead['id']}/history", limit=3)
    assert history.status_code == 200
    first_page = history.json()
    assert len(first_page["items"]) == 3 and first_page["next_cursor"]
    everything = (
        first_page["items"]
        + org.api.get(
            f"/leads/{lead['id']}/history", cursor=first_page["next_cursor"], limit=50
        ).json()["items"]
    )
    fields = [(h["action"], h["field"]) for h in everything]
    assert fields[-1] == ("created", None)
    assert ("status_changed", "status") in fields and ("tagged", "tags") in fields
    assert ("updated", "custom_fields.budget") in fields
    assert all(h["actor"]["id"] == org.user_id for h in everything)

    types = _outbox_types(admin, lead["id"])
    assert types[:3] == ["crm.lead.created", "crm.lead.updated", "crm.lead.status_changed"]
    assert types.count("crm.lead.tagged") == 2

    def reported(expected: dict[str, int]) -> bool:
        report = org.api.get("/reports/leads")
        return report.status_code == 200 and report.json()["by_status"] == expected

    assert _eventually(lambda: reported({"lost": 1})), org.api.get("/reports/leads").text
    assert org.api.call("DELETE", f"/leads/{lead['id']}", **{"If-Match": '"1"'}).status_code == 412
    deleted = org.api.call("DELETE", f"/leads/{lead['id']}")
    assert deleted.status_code == 204 and deleted.content == b""
    _problem(org.api.get(f"/leads/{lead['id']}"), 404)
    assert _eventually(lambda: reported({})), org.api.get("/reports/leads").text
    assert [item["id"] for item in org.api.get("/leads", deleted="true").json()["items"]] == [
        lead["id"]
    ]
    restored = org.api.call("POST", f"/leads/{lead['id']}/restore")
    assert restored.status_code == 200 and restored.json()["deleted_at"] is None
    assert _eventually(lambda: reported({"lost": 1}))


def test_duplicates_are_409_pointing_at_the_existing_lead_and_merge_keeps_both_histories(
    local_cloud: LocalCloudProcess, admin: Any
) -> None:
    org = _org(local_cloud, admin, "Dupes")
    first = _lead(org, name="Ana", email="ana@x.io", phone="+1 555 0100")
    for body in ({"email": "ANA@x.io"}, {"phone": "1-555-0100"}):
        conflict = _problem(org.api.call("POST", "/leads", {"name": "Again", **body}), 409)
        assert conflict["existing_id"] == first["id"]
        assert conflict["existing"] == f"/leads/{first['id']}"
    second = _lead(org, name="Ana B", email="ana.b@x.io", company="Acme")
    _problem(org.api.call("PATCH", f"/leads/{second['id']}", {"email": "ana@x.io"}), 409)
    org.api.call("PATCH", f"/leads/{second['id']}", {"name": "Ana Beatriz"})

    merged = org.api.call("POST", f"/leads/{first['id']}/merge", {"lead_id": second["id"]})
    assert merged.status_code == 200, merged.text
    assert merged.json()["company"] == "Acme" and merged.json()["email"] == "ana@x.io"
    _problem(org.api.get(f"/leads/{second['id']}"), 404)
    history = org.api.get(f"/leads/{first['id']}/history").json()["items"]
    mine = {(h["lead_id"], h["action"], h["field"]) for h in history}
    assert (second["id"], "updated", "name") in mine  # the merged lead's own history
    assert (first["id"], "merged", "company") in mine
    _problem(org.api.call("POST", f"/leads/{second['id']}/restore"), 409)
    _problem(org.api.call("POST", f"/leads/{first['id']}/merge", {"lead_id": first["id"]}), 422)
    assert "crm.lead.merged" in _outbox_types(admin, first["id"])


# ------------------------------------------------------------------ lists


def test_search_filters_sorts_and_cursors(local_cloud: LocalCloudProcess, admin: Any) -> None:
    org = _org(local_cloud, admin, "Searcher")
    _setup_lists(org)
    _lead(org, name="João Conceição", company="Padaria São Jorge", tags=["vip"], score=10,
          custom_fields={"segment": "smb", "budget": 5})  # fmt: skip
    _lead(org, name="Joana Souza", email="joana@example.com", tags=["vip", "hot"], score=90,
          category="Retail", custom_fields={"segment": "ent"})  # fmt: skip
    _lead(org, name="Mário Brandão", phone="+55 21 3333-4444", status="qualified")
    _lead(org, name="Zé Ninguém", status="lost", lost_reason="no reply")

    def names(**params: Any) -> list[str]:
        return [lead["name"] for lead in _walk(org, **params)]

    assert names(q="joao") == ["João Conceição"]
    assert names(q="CONCEICAO") == ["João Conceição"]
    assert sorted(names(q="jo")) == ["Joana Souza", "João Conceição"]
    assert names(q="sao jorge") == ["João Conceição"]
    assert names(q="3333") == ["Mário Brandão"]
    assert names(tag="vip,hot") == ["Joana Souza"]
    assert sorted(names(tag="VIP")) == ["Joana Souza", "João Conceição"]
    assert names(category="Retail") == ["Joana Souza"]
    assert names(status="qualified,lost", sort="name", order="asc") == [
        "Mário Brandão",
        "Zé Ninguém",
    ]
    assert names(**{"cf.segment": "ent"}) == ["Joana Souza"]
    assert names(**{"cf.budget": "5"}) == ["João Conceição"]
    by_score = [lead["score"] for lead in _walk(org, sort="score", order="asc")]
    assert by_score == [10, 90, None, None]  # no score: last ascending
    assert names(sort="name", order="desc") == sorted(names(), reverse=True)
    assert names(owner_id=org.user_id, q="ze") == ["Zé Ninguém"]
    assert names(created_after="2099-01-01T00:00:00Z") == []
    desc = org.api.get("/leads", limit=1, sort="name", order="desc").json()["next_cursor"]
    _problem(org.api.get("/leads", limit=1, sort="name", order="asc", cursor=desc), 422)
    _problem(org.api.get("/leads", **{"cf.nope": "1"}), 422)
    _problem(org.api.get("/leads", **{"cf.budget": "lots"}), 422)


def test_tags_categories_and_custom_fields_are_managed_per_tenant(
    local_cloud: LocalCloudProcess, admin: Any
) -> None:
    org = _org(local_cloud, admin, "Lists")
    _setup_lists(org)
    _problem(org.api.call("POST", "/tags", {"name": "VIP"}), 409)  # case-insensitive
    replay = org.api.call("POST", "/tags", {"name": "new"}, **{"Idempotency-Key": "t1"})
    again = org.api.call("POST", "/tags", {"name": "new"}, **{"Idempotency-Key": "t1"})
    assert replay.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert [t["name"] for t in org.api.get("/tags").json()["items"]] == ["hot", "new", "vip"]
    lead = _lead(org, tags=["vip", "hot"], category="Retail")
    removed = org.api.call("DELETE", "/tags/vip")
    assert removed.status_code == 200 and removed.json()["records_changed"] == 1
    after = org.api.get(f"/leads/{lead['id']}").json()
    assert after["tags"] == ["hot"] and after["version"] == 2
    _problem(org.api.call("DELETE", "/tags/vip"), 404)
    _problem(org.api.call("POST", f"/leads/{lead['id']}/tags/vip"), 422)  # no longer exists
    assert org.api.call("DELETE", "/categories/Retail").json()["records_changed"] == 1
    assert org.api.get(f"/leads/{lead['id']}").json()["category"] is None
    history = org.api.get(f"/leads/{lead['id']}/history").json()["items"]
    assert {(h["field"], str(h["new"])) for h in history} >= {
        ("tags", "['hot']"),
        ("category", "None"),
    }

    fields = org.api.get("/custom-fields", entity="lead").json()["items"]
    segment = next(f for f in fields if f["key"] == "segment")
    _problem(org.api.call("POST", "/custom-fields", {**{k: segment[k] for k in ("entity", "key", "label", "type", "options")}}), 409)  # fmt: skip
    required = org.api.call(
        "PATCH", f"/custom-fields/{segment['id']}", {"required": True}, **{"If-Match": '"1"'}
    )
    assert required.status_code == 200 and required.headers["ETag"] == '"2"', required.text
    _problem(org.api.call("PATCH", f"/custom-fields/{segment['id']}", {"label": "x"}, **{"If-Match": '"1"'}), 412)  # fmt: skip
    missing = _problem(org.api.call("POST", "/leads", {"name": "No segment"}), 422)
    assert missing["errors"][0]["loc"] == ["body", "custom_fields", "segment"]
    _problem(org.api.call("PATCH", f"/custom-fields/{segment['id']}", {"options": []}), 422)
    _problem(org.api.call("PATCH", f"/custom-fields/{segment['id']}", {"type": "text"}), 422)


# ------------------------------------------------------------------ concurrency


def test_two_patches_with_one_etag_exactly_one_412(
    local_cloud: LocalCloudProcess, admin: Any
) -> None:
    org = _org(local_cloud, admin, "Racers")
    lead = _lead(org)
    results = _in_parallel(
        2,
        lambda i: org.api.call(
            "PATCH", f"/leads/{lead['id']}", {"name": f"writer {i}"}, **{"If-Match": '"1"'}
        ),
    )
    assert sorted(r.status_code for r in results) == [200, 412], [r.text for r in results]


def test_parallel_posts_with_one_idempotency_key_make_one_lead(
    local_cloud: LocalCloudProcess, admin: Any
) -> None:
    org = _org(local_cloud, admin, "Keyholders")
    results = _in_parallel(
        6,
        lambda i: org.api.call(
            "POST", "/leads", {"name": "Only once", "email": "once@x.io"},
            **{"Idempotency-Key": "same-key"},
        ),
    )  # fmt: skip
    assert {r.status_code for r in results} == {201}, [r.text for r in results]
    assert len({r.json()["id"] for r in results}) == 1
    assert [lead["name"] for lead in org.api.get("/leads").json()["items"]] == ["Only once"]
    other_body = org.api.call(
        "POST", "/leads", {"name": "Other"}, **{"Idempotency-Key": "same-key"}
    )
    _problem(other_body, 422)


# ------------------------------------------------------------------ tenancy and roles


def test_another_tenants_ids_are_404_on_every_lead_route(
    local_cloud: LocalCloudProcess, admin: Any
) -> None:
    mine, theirs = _org(local_cloud, admin, "Mine"), _org(local_cloud, admin, "Theirs")
    _setup_lists(mine)
    lead = _lead(mine, tags=["vip"])
    other = _lead(mine, name="Other")
    field = mine.api.get("/custom-fields").json()["items"][0]
    i = lead["id"]
    for method, path, body in [
        ("GET", f"/leads/{i}", None),
        ("PATCH", f"/leads/{i}", {"name": "stolen"}),
        ("DELETE", f"/leads/{i}", None),
        ("POST", f"/leads/{i}/restore", None),
        ("POST", f"/leads/{i}/merge", {"lead_id": other["id"]}),
        ("POST", f"/leads/{i}/tags/vip", None),
        ("DELETE", f"/leads/{i}/tags/vip", None),
        ("GET", f"/leads/{i}/history", None),
        ("PATCH", f"/custom-fields/{field['id']}", {"label": "stolen"}),
        ("DELETE", "/tags/vip", None),
        ("DELETE", "/categories/Retail", None),
    ]:
        _problem(theirs.api.call(method, path, body), 404)
    # their own lead cannot absorb mine either
    theirs_lead = _lead(theirs)
    _problem(theirs.api.call("POST", f"/leads/{theirs_lead['id']}/merge", {"lead_id": i}), 404)
    assert theirs.api.get("/leads", q="Lead").json()["items"] == [
        theirs.api.get(f"/leads/{theirs_lead['id']}").json()
    ]
    assert theirs.api.get("/tags").json()["items"] == []
    _problem(theirs.api.call("POST", "/leads", {"name": "x", "owner_id": mine.user_id}), 422)
    _problem(theirs.api.call("POST", "/leads", {"name": "x", "tags": ["vip"]}), 422)
    assert mine.api.get(f"/leads/{i}").json()["name"] == "Lead"


def test_a_seller_reads_and_edits_only_own_and_unassigned_leads(
    local_cloud: LocalCloudProcess, admin: Any
) -> None:
    org = _org(local_cloud, admin, "LeadSellers")
    ana, ana_id = _user(local_cloud, admin, org, "seller")
    bob, _ = _user(local_cloud, admin, org, "seller")
    owners = _lead(org, name="owner's")
    nobodys = _lead(org, name="nobody's", owner_id=None)
    anas = ana.call("POST", "/leads", {"name": "ana's"}).json()
    assert anas["owner_id"] == ana_id
    for method, path, body in [
        ("GET", f"/leads/{owners['id']}", None),
        ("PATCH", f"/leads/{owners['id']}", {"name": "mine"}),
        ("GET", f"/leads/{owners['id']}/history", None),
        ("POST", f"/leads/{owners['id']}/tags/x", None),
    ]:
        _problem(ana.call(method, path, body), 404)
    _problem(bob.get(f"/leads/{anas['id']}"), 404)
    assert {lead["name"] for lead in ana.get("/leads").json()["items"]} == {"ana's", "nobody's"}
    assert ana.get("/leads", q="owner").json()["items"] == []
    taken = ana.call("PATCH", f"/leads/{nobodys['id']}", {"owner_id": ana_id})
    assert taken.status_code == 200 and taken.json()["owner_id"] == ana_id
    _problem(bob.get(f"/leads/{nobodys['id']}"), 404)
    _problem(ana.call("PATCH", f"/leads/{anas['id']}", {"owner_id": org.user_id}), 403)
    _problem(ana.call("DELETE", f"/leads/{anas['id']}"), 403)  # sellers may not delete
    assert "crm.lead.assigned" in _outbox_types(admin, nobodys["id"])


def test_the_plan_limits_leads(local_cloud: LocalCloudProcess, admin: Any) -> None:
    org = _org(local_cloud, admin, "Limited", plan="free")
    admin.run(
        "UPDATE usage_counters SET used = 1000 WHERE tenant_id = CAST(:t AS uuid)"
        " AND metric = 'leads'",
        t=org.id,
    )
    admin.run(
        "INSERT INTO usage_counters (tenant_id, metric, period_start, used)"
        " VALUES (CAST(:t AS uuid), 'leads', 'epoch', 1000) ON CONFLICT DO NOTHING",
        t=org.id,
    )
    body = _problem(org.api.call("POST", "/leads", {"name": "one too many"}), 403)
    assert body["metric"] == "leads" and body["limit"] == 1000


# ------------------------------------------------------------------ bad input


def test_bad_input_is_a_4xx_problem_never_a_500(local_cloud: LocalCloudProcess, admin: Any) -> None:
    org = _org(local_cloud, admin, "FuzzyLeads")
    _setup_lists(org)
    lead = _lead(org)
    i = lead["id"]
    bad_bodies = [
        ("POST", "/leads", {"name": 123}),
        ("POST", "/leads", {"name": "x", "unknown": 1}),
        ("POST", "/leads", {"name": "x" * 201}),
        ("POST", "/leads", {"name": "   "}),
        ("POST", "/leads", {"name": "x", "email": "not-an-email"}),
        ("POST", "/leads", {"name": "x", "phone": "1" * 41}),
        ("POST", "/leads", {"name": "x", "status": "converted"}),
        ("POST", "/leads", {"name": "x", "status": "lost"}),
        ("POST", "/leads", {"name": "x", "score": 101}),
        ("POST", "/leads", {"name": "x", "score": "high"}),
        ("POST", "/leads", {"name": "x", "tags": "vip"}),
        ("POST", "/leads", {"name": "x", "tags": ["a,b"]}),
        ("POST", "/leads", {"name": "x", "tags": ["x" * 51]}),
        ("POST", "/leads", {"name": "x", "tags": ["unknown"]}),
        ("POST", "/leads", {"name": "x", "category": "Nope"}),
        ("POST", "/leads", {"name": "x", "owner_id": "not-a-uuid"}),
        ("POST", "/leads", {"name": "x", "owner_id": str(uuid.uuid4())}),
        ("POST", "/leads", {"name": "x", "custom_fields": {"segment": "huge"}}),
        ("POST", "/leads", {"name": "x", "custom_fields": {"budget": "lots"}}),
        ("POST", "/leads", {"name": "x", "custom_fields": {"budget": True}}),
        ("POST", "/leads", {"name": "x", "custom_fields": {"nope": 1}}),
        ("POST", "/leads", {"name": "x", "custom_fields": ["segment"]}),
        ("POST", "/leads", [1, 2]),
        ("POST", "/leads", None),
        ("PATCH", f"/leads/{i}", {"name": None}),
        ("PATCH", f"/leads/{i}", {"tags": None}),
        ("PATCH", f"/leads/{i}", {"lost_reason": "not lost"}),
        ("PATCH", f"/leads/{i}", {"version": 9}),
        ("PATCH", f"/leads/{i}", {"custom_fields": {"segment": 3}}),
        ("POST", f"/leads/{i}/merge", {}),
        ("POST", f"/leads/{i}/merge", {"lead_id": "x"}),
        ("POST", f"/leads/{i}/merge", {"lead_id": str(uuid.uuid4())}),
        ("POST", "/tags", {"name": ""}),
        ("POST", "/tags", {"name": "a,b"}),
        ("POST", "/tags", {"name": "x", "color": "red"}),
        ("POST", "/categories", {"name": "y" * 61}),
        ("POST", "/custom-fields", {"entity": "deal", "key": "k", "label": "K", "type": "text"}),
        (
            "POST",
            "/custom-fields",
            {"entity": "lead", "key": "Bad Key", "label": "K", "type": "text"},
        ),
        ("POST", "/custom-fields", {"entity": "lead", "key": "k", "label": "K", "type": "json"}),
        ("POST", "/custom-fields", {"entity": "lead", "key": "k", "label": "K", "type": "select"}),
        (
            "POST",
            "/custom-fields",
            {"entity": "lead", "key": "k", "label": "K", "type": "text", "options": ["a"]},
        ),
    ]
    for method, path, body in bad_bodies:
        response = org.api.call(method, path, body)
        assert 400 <= response.status_code < 500, (method, path, body, response.text)
        assert response.headers["content-type"] == PROBLEM, (body, response.text)
        if response.status_code == 422:
            assert response.json()["errors"], response.text
    bad_queries: list[tuple[str, dict[str, Any]]] = [
        ("/leads", {"limit": 0}),
        ("/leads", {"limit": 201}),
        ("/leads", {"sort": "email"}),
        ("/leads", {"order": "sideways"}),
        ("/leads", {"status": "maybe"}),
        ("/leads", {"owner_id": "nope"}),
        ("/leads", {"q": "x" * 101}),
        ("/leads", {"tag": "a" * 60}),
        ("/leads", {"created_after": "2026-01-01T00:00:00"}),
        (
            "/leads",
            {"updated_after": "2026-02-01T00:00:00Z", "updated_before": "2026-01-01T00:00:00Z"},
        ),
        ("/leads", {"cursor": "garbage"}),
        ("/leads", {"cursor": "A" * 3000}),
        ("/leads", {"deleted": "perhaps"}),
        (f"/leads/{i}/history", {"cursor": "%%%"}),
        ("/custom-fields", {"entity": "deal"}),
    ]
    for path, params in bad_queries:
        _problem(org.api.get(path, **params), 422)
    for path in ["/leads/not-a-uuid", f"/leads/{uuid.uuid4()}", f"/leads/{uuid.uuid4()}/history"]:
        _problem(org.api.get(path), 404)
    _problem(org.api.call("PATCH", f"/leads/{i}", {"name": "y"}, **{"If-Match": "garbage"}), 412)
    _problem(org.api.call("POST", "/leads", {"name": "x"}, **{"Idempotency-Key": "k" * 300}), 422)


# ------------------------------------------------------------------ notes and timeline


def test_the_timeline_merges_changes_notes_and_automation_runs(
    local_cloud: LocalCloudProcess, admin: Any, webhook_receiver: WebhookReceiver
) -> None:
    org = _org(local_cloud, admin, "Timeline")
    automation = org.api.call(
        "POST",
        "/automations",
        {
            "name": "Greet new leads",
            "workflow": webhook_workflow(webhook_receiver.url),
            "publish": True,
        },
    )
    assert automation.status_code == 201, automation.text
    lead = _lead(org, name="Timed")
    note = org.api.call(
        "POST", f"/leads/{lead['id']}/notes", {"body": "Called: demo on Friday"},
        **{"Idempotency-Key": "note-1"},
    )  # fmt: skip
    assert note.status_code == 201 and note.json()["body"] == "Called: demo on Friday"
    again = org.api.call(
        "POST", f"/leads/{lead['id']}/notes", {"body": "Called: demo on Friday"},
        **{"Idempotency-Key": "note-1"},
    )  # fmt: skip
    assert again.json()["id"] == note.json()["id"]
    org.api.call("PATCH", f"/leads/{lead['id']}", {"name": "Timed 2"})

    def items() -> list[dict[str, Any]]:
        collected, cursor = [], None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = org.api.get(f"/leads/{lead['id']}/timeline", **params)
            assert page.status_code == 200, page.text
            collected += page.json()["items"]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                return collected

    assert _eventually(lambda: any(i["type"] == "automation_run" for i in items()))
    timeline = items()
    assert len({i["id"] for i in timeline}) == len(timeline)  # pages neither repeat nor skip
    assert [i["at"] for i in timeline] == sorted((i["at"] for i in timeline), reverse=True)
    kinds = {i["type"] for i in timeline}
    assert kinds == {"change", "note", "automation_run"}
    run = next(i for i in timeline if i["type"] == "automation_run")
    assert run["automation_name"] == "Greet new leads" and run["event_type"] == "crm.lead.created"
    assert [i["action"] for i in timeline if i["type"] == "change"] == ["updated", "created"]
    assert next(i for i in timeline if i["type"] == "note")["body"] == "Called: demo on Friday"

    other = _org(local_cloud, admin, "NotMine")
    _problem(other.api.get(f"/leads/{lead['id']}/timeline"), 404)
    _problem(other.api.call("POST", f"/leads/{lead['id']}/notes", {"body": "x"}), 404)
    _problem(org.api.call("POST", f"/leads/{lead['id']}/notes", {"body": ""}), 422)
    _problem(org.api.call("POST", f"/leads/{lead['id']}/notes", {"body": "x" * 10001}), 422)
    _problem(org.api.get(f"/leads/{lead['id']}/timeline", cursor="nope"), 422)
