"""Dead letters and the event catalog over HTTP, through the local cloud: list (paginated, per
consumer), redrive (the consumer then applies the event once), discard, tenant isolation,
permissions, validation and audit."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from crm.adapters.passwords import Argon2PasswordHasher
from crm.adapters.postgres.connection import ConnectionPool, connect
from crm.adapters.postgres.migrations import MigrationResult
from crm.adapters.postgres.unit_of_work import PostgresDatabase
from crm.domain.dead_letters import DeadLetter
from crm.domain.leads import Lead
from crm.domain.tenants import User

from local.services import Endpoints
from tests.e2e.conftest import LocalCloudProcess
from tests.e2e.test_walking_skeleton import Client, sign_up_and_log_in

pytestmark = pytest.mark.e2e

PROBLEM = "application/problem+json"


def delete(client: Client, path: str) -> requests.Response:
    return requests.delete(client.base_url + path, headers=client.headers, timeout=30)


@pytest.fixture(scope="module")
def db(migrated: MigrationResult) -> PostgresDatabase:
    return PostgresDatabase(ConnectionPool(migrated.app_url, 2))


def seed_dead_letter(db: PostgresDatabase, tenant_id: uuid.UUID, consumer: str) -> DeadLetter:
    """A lead whose crm.lead.created was never handled by `consumer`, dead in its DLQ."""
    lead = Lead(tenant_id=tenant_id, name="Dead Letter", source="dlq-test")
    event = lead.created_event("dlq-correlation")
    now = datetime.now(UTC)
    letter = DeadLetter(
        tenant_id=tenant_id, consumer=consumer, event_id=event.id, event_type=event.type,
        envelope=event.to_dict(), error="ValueError: broken on purpose", attempts=5,
        first_failed_at=now - timedelta(minutes=71), last_failed_at=now,
    )  # fmt: skip
    with db.unit_of_work(tenant_id) as uow:
        uow.leads.add(lead)
        uow.dead_letters.add(letter)
        uow.commit()
    return letter


def add_user(db: PostgresDatabase, tenant_id: uuid.UUID, slug: str, role: str) -> str:
    email = f"{role}-{uuid.uuid4().hex[:6]}@{slug}.example.com"
    user = User(tenant_id=tenant_id, email=email, name=role.title(), role=role,
                password_hash=Argon2PasswordHasher().hash("correct horse battery"))  # fmt: skip
    with db.unit_of_work(tenant_id) as uow:
        uow.users.add(user, tenant_slug=slug)
        uow.commit()
    return email


def log_in(base_url: str, email: str) -> Client:
    response = Client(base_url).post(
        "/auth/login", {"email": email, "password": "correct horse battery"}
    )
    assert response.status_code == 200, response.text
    return Client(base_url, response.json()["access_token"])


def ids(response: requests.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def wait_for(predicate: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    return predicate()


def test_the_event_catalog_is_served_to_signed_in_callers(local_cloud: LocalCloudProcess) -> None:
    client, _ = sign_up_and_log_in(local_cloud.url, "Catalog")
    response = client.get("/events/catalog")
    assert response.status_code == 200, response.text
    events = {entry["type"]: entry for entry in response.json()["events"]}
    lead_created = events["crm.lead.created"]["data_schema"]
    assert "lead" in lead_created["properties"]
    assert Client(local_cloud.url).get("/events/catalog").status_code == 401


def test_an_admin_lists_redrives_and_discards_their_tenants_dead_letters(
    local_cloud: LocalCloudProcess, db: PostgresDatabase, endpoints: Endpoints
) -> None:
    owner, signup = sign_up_and_log_in(local_cloud.url, "Dlq")
    other_owner, _ = sign_up_and_log_in(local_cloud.url, "Other")
    tenant_id = uuid.UUID(signup["id"])
    analytics = [seed_dead_letter(db, tenant_id, "analytics") for _ in range(3)]
    automation = seed_dead_letter(db, tenant_id, "automation")

    # Listing: newest first, two pages, per consumer
    first = owner.get("/admin/dead-letters?limit=2")
    cursor = first.json()["next_cursor"]
    second = owner.get(f"/admin/dead-letters?limit=2&cursor={cursor}")
    assert sorted(ids(first) + ids(second)) == sorted(str(d.id) for d in [*analytics, automation])
    assert second.json()["next_cursor"] is None
    item = first.json()["items"][0]
    assert {"event", "error", "attempts", "first_failed_at", "last_failed_at",
            "dead_lettered_at", "consumer", "status"} <= set(item)  # fmt: skip
    assert ids(owner.get("/admin/dead-letters?consumer=automation")) == [str(automation.id)]

    # Another tenant sees nothing of them and cannot act on them: 404, never 403
    assert ids(other_owner.get("/admin/dead-letters")) == []
    assert delete(other_owner, f"/admin/dead-letters/{automation.id}").status_code == 404
    refused = other_owner.post("/admin/dead-letters/redrive", {"ids": [str(analytics[0].id)]})
    assert refused.status_code == 404 and refused.headers["content-type"] == PROBLEM

    # Redrive one: the analytics consumer then indexes that lead (the report counts it)
    before = owner.get("/reports/leads").json()["total"]
    redriven = owner.post("/admin/dead-letters/redrive", {"ids": [str(analytics[0].id)]})
    assert redriven.status_code == 200, redriven.text
    assert redriven.json() == {"redriven": 1, "ids": [str(analytics[0].id)], "remaining": 0}
    assert wait_for(lambda: owner.get("/reports/leads").json()["total"] == before + 1)
    again = owner.post("/admin/dead-letters/redrive", {"ids": [str(analytics[0].id)]})
    assert again.status_code == 409 and again.headers["content-type"] == PROBLEM
    redriven_list = owner.get("/admin/dead-letters?status=redriven").json()["items"]
    assert [i["id"] for i in redriven_list] == [str(analytics[0].id)]
    assert redriven_list[0]["redriven_by"] == signup["owner"]["id"]

    # Redrive by filter: the other two analytics letters, none of the automation one
    by_filter = owner.post("/admin/dead-letters/redrive", {"filter": {"consumer": "analytics"}})
    assert by_filter.json()["redriven"] == 2 and by_filter.json()["remaining"] == 0
    assert wait_for(lambda: owner.get("/reports/leads").json()["total"] == before + 3)

    # Discard the automation letter: 204, then it is gone (404)
    assert delete(owner, f"/admin/dead-letters/{automation.id}").status_code == 204
    assert delete(owner, f"/admin/dead-letters/{automation.id}").status_code == 404
    assert ids(owner.get("/admin/dead-letters")) == []

    # Every action is in the tenant's audit log, with who did it
    conn = connect(endpoints.admin_database_url)
    try:
        rows = conn.run(
            "SELECT action, entity_id, actor_id FROM audit_log WHERE tenant_id = :t"
            " AND entity_type = 'dead_letter' ORDER BY id",
            t=tenant_id,
        )
    finally:
        conn.close()
    assert sorted((r[0], r[1]) for r in rows) == sorted(
        [("dead_letter.redriven", str(d.id)) for d in analytics]
        + [("dead_letter.discarded", str(automation.id))]
    )
    assert {str(r[2]) for r in rows} == {signup["owner"]["id"]}


def test_only_admins_may_see_or_act_on_dead_letters(
    local_cloud: LocalCloudProcess, db: PostgresDatabase
) -> None:
    owner, signup = sign_up_and_log_in(local_cloud.url, "Perm")
    tenant_id = uuid.UUID(signup["id"])
    letter = seed_dead_letter(db, tenant_id, "analytics")
    seller = log_in(local_cloud.url, add_user(db, tenant_id, signup["slug"], "seller"))
    listed = seller.get("/admin/dead-letters")
    assert listed.status_code == 403 and listed.headers["content-type"] == PROBLEM
    assert "dead_letters:read" in listed.json()["detail"]
    assert seller.post("/admin/dead-letters/redrive", {"all": True}).status_code == 403
    assert delete(seller, f"/admin/dead-letters/{letter.id}").status_code == 403
    assert Client(local_cloud.url).get("/admin/dead-letters").status_code == 401
    assert ids(owner.get("/admin/dead-letters")) == [str(letter.id)]  # still there


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/admin/dead-letters?limit=0", None),
        ("get", "/admin/dead-letters?limit=201", None),
        ("get", "/admin/dead-letters?consumer=nobody", None),
        ("get", "/admin/dead-letters?status=lost", None),
        ("get", "/admin/dead-letters?cursor=not-a-cursor", None),
        ("post", "/admin/dead-letters/redrive", {}),
        ("post", "/admin/dead-letters/redrive", {"all": True, "ids": [str(uuid.uuid4())]}),
        ("post", "/admin/dead-letters/redrive", {"all": False}),
        ("post", "/admin/dead-letters/redrive", {"ids": []}),
        ("post", "/admin/dead-letters/redrive", {"ids": ["not-a-uuid"]}),
        ("post", "/admin/dead-letters/redrive", {"filter": {"consumer": "nobody"}}),
    ],
)
def test_malformed_requests_are_422_problems_with_field_errors(
    local_cloud: LocalCloudProcess, method: str, path: str, body: Any
) -> None:
    owner, _ = sign_up_and_log_in(local_cloud.url, "Val")
    response = owner.get(path) if method == "get" else owner.post(path, body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"]


def test_a_cursor_is_bound_to_its_listing(
    local_cloud: LocalCloudProcess, db: PostgresDatabase
) -> None:
    owner, signup = sign_up_and_log_in(local_cloud.url, "Cur")
    for _ in range(2):
        seed_dead_letter(db, uuid.UUID(signup["id"]), "analytics")
    cursor = owner.get("/admin/dead-letters?limit=1").json()["next_cursor"]
    assert cursor and owner.get(f"/admin/dead-letters?cursor={cursor}").status_code == 200
    refused = owner.get(f"/admin/dead-letters?status=redriven&cursor={cursor}")
    assert refused.status_code == 422 and refused.json()["errors"][0]["loc"] == ["query", "cursor"]


def test_an_unknown_or_malformed_id_is_404(local_cloud: LocalCloudProcess) -> None:
    owner, _ = sign_up_and_log_in(local_cloud.url, "Ids")
    assert delete(owner, f"/admin/dead-letters/{uuid.uuid4()}").status_code == 404
    assert delete(owner, "/admin/dead-letters/not-a-uuid").status_code == 404
    unknown = owner.post("/admin/dead-letters/redrive", {"ids": [str(uuid.uuid4())]})
    assert unknown.status_code == 404
